// Messages between the demo's hostd role (parent process) and the infotainment VM process
// (child), over Node's IPC channel: the stand-in for a VM's private control link until hostd
// and its framed links exist (issue 6). Byte fields travel as hex.

/** hostd → VM: everything a VM gets at attach time in emulated mode (PROTOCOL.md §5). */
export interface AttachMessage {
  readonly type: 'attach';
  readonly vmId: number;
  readonly regionPath: string;
  readonly grantKey: string;
  readonly caPublicKey: string;
  readonly brokerCertificate: { tbs: string; sig: string };
  readonly epoch: string;
  readonly enrolmentNonce: string;
  readonly configPath: string;
}

export type HostToVm =
  | AttachMessage
  | { readonly type: 'certificate'; readonly tbs: string; readonly sig: string }
  | { readonly type: 'handshake'; readonly bytes: string }
  | { readonly type: 'revoke'; readonly token: string; readonly tag: string }
  | { readonly type: 'stop' };

export type VmToHost =
  | { readonly type: 'csr'; readonly csr: string }
  | { readonly type: 'handshake'; readonly bytes: string }
  | { readonly type: 'publishing'; readonly channelId: string }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stopped'; readonly sent: number };

export const hex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
