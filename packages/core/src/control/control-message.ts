import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { Certificate } from '../cert/certificate.js';
import { CoreError } from '../errors/core-error.js';
import { decodeHandshakeFrame, encodeHandshakeFrame } from '../handshake/handshake-frame-codec.js';
import { packageRoot } from '../util/package-root.js';
import { MAX_CONTROL_FRAME_SIZE } from './control-frame.js';

/** Version a VM states in `hello`; hostd refuses any other. */
export const CONTROL_PROTOCOL_VERSION = 1;

/** The shared region as hostd describes it in `attach` (docs/architecture.md §4). */
export interface ControlRegionInfo {
  /** Emulated mode: the region file; qemu mode: '' (the VM maps its BAR2). */
  readonly path: string;
  readonly size: bigint;
  readonly dataOffset: bigint;
  readonly dataSize: bigint;
  readonly channelCapacity: number;
}

/** hostd → VM at the start of a link: identity, trust anchors, region, enrolment nonce. */
export interface AttachMessage {
  readonly kind: 'attach';
  readonly vmId: number;
  readonly vmName: string;
  readonly epoch: bigint;
  readonly caPublicKey: Uint8Array;
  readonly brokerCertificate: Certificate;
  readonly region: ControlRegionInfo;
  /** K_vm; emulated mode only (docs/protocol.md §9), undefined in qemu mode. */
  readonly grantKey?: Uint8Array;
  readonly ivshmemSocket: string;
  readonly enrolmentNonce: Uint8Array;
}

/**
 * One message on a control link between hostd and a VM (docs/architecture.md §5), the decoded
 * form of `sivshm.control.v1.ControlMessage`. Nothing in it names the sending VM: hostd
 * knows that from the link.
 */
export type ControlMessage =
  | { readonly kind: 'hello'; readonly version: number; readonly software: string }
  | AttachMessage
  | { readonly kind: 'csr'; readonly csr: Uint8Array }
  | { readonly kind: 'certificate'; readonly certificate: Certificate }
  | { readonly kind: 'sd'; readonly message: Uint8Array }
  | {
      readonly kind: 'handshake';
      readonly message: Uint8Array;
      /** hostd → VM with M4/M6: the channel peer's ivshmem doorbell id, when hostd knows it. */
      readonly peerDoorbell?: number;
      /**
       * hostd → VM with M4/M6 of an `isolation: device` channel, emulated mode only: the path
       * of the channel's own memory file (docs/protocol.md §10).
       */
      readonly channelDevice?: string;
    }
  | { readonly kind: 'doorbellId'; readonly id: number }
  | {
      readonly kind: 'revoke';
      readonly channelId: bigint;
      readonly token: Uint8Array;
      readonly tag: Uint8Array;
    }
  | {
      readonly kind: 'revokeAck';
      readonly channelId: bigint;
      /** The device's revoke receipt (32 bytes); empty when the device gave none. */
      readonly receipt: Uint8Array;
    }
  | { readonly kind: 'close'; readonly channelId: bigint }
  | { readonly kind: 'peerGone'; readonly channelId: bigint; readonly reason: string }
  | { readonly kind: 'heartbeat'; readonly sequence: bigint; readonly timeMs: bigint }
  | { readonly kind: 'error'; readonly code: string; readonly message: string }
  | {
      /** hostd → VM: move this end of `channelId` to the successor's window (protocol §11). */
      readonly kind: 'resize';
      readonly channelId: bigint;
      readonly successorId: bigint;
      readonly grantToken: Uint8Array;
      readonly grantTag: Uint8Array;
      readonly timeoutMs: number;
    }
  | {
      /** VM → hostd: this end of `channelId` moved; the old window may be revoked. */
      readonly kind: 'resized';
      readonly channelId: bigint;
      readonly successorId: bigint;
    };

/** The `kind` names of {@link ControlMessage}. */
export type ControlMessageKind = ControlMessage['kind'];

const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** ivshmem peer ids are 16-bit (QEMU's IVPosition holds one). */
export const MAX_DOORBELL_ID = 0xffff;
const KEY_SIZE = 32;

let root: protobuf.Root | undefined;
function controlType(): protobuf.Type {
  root ??= protobuf.loadSync(join(packageRoot(import.meta.url), 'proto', 'control.proto'));
  return root.lookupType('sivshm.control.v1.ControlMessage');
}

type Plain = Record<string, unknown>;

function u64(v: bigint, what: string): string {
  if (v < 0n || v > U64_MAX) throw new CoreError('ERR_DECODE', `${what} ${v} is not a u64`);
  return v.toString();
}

function doorbell(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_DOORBELL_ID) {
    throw new CoreError(
      'ERR_DECODE',
      `${what} ${String(v)} is not an ivshmem peer id (0..${MAX_DOORBELL_ID})`,
    );
  }
  return v;
}

function fieldsOf(m: ControlMessage): [string, Plain] {
  switch (m.kind) {
    case 'hello':
      return ['hello', { version: m.version, software: m.software }];
    case 'attach':
      return [
        'attach',
        {
          vmId: m.vmId,
          vmName: m.vmName,
          epoch: u64(m.epoch, 'epoch'),
          caPublicKey: m.caPublicKey,
          brokerCertTbs: m.brokerCertificate.tbs,
          brokerCertSig: m.brokerCertificate.sig,
          region: {
            path: m.region.path,
            size: u64(m.region.size, 'region size'),
            dataOffset: u64(m.region.dataOffset, 'data offset'),
            dataSize: u64(m.region.dataSize, 'data size'),
            channelCapacity: m.region.channelCapacity,
          },
          grantKey: m.grantKey ?? new Uint8Array(0),
          ivshmemSocket: m.ivshmemSocket,
          enrolmentNonce: m.enrolmentNonce,
        },
      ];
    case 'csr':
      return ['csr', { csr: m.csr }];
    case 'certificate':
      return ['certificate', { tbs: m.certificate.tbs, sig: m.certificate.sig }];
    case 'sd':
      return ['sd', { message: m.message }];
    case 'handshake':
      return [
        'handshake',
        {
          message: m.message,
          ...(m.peerDoorbell === undefined
            ? {}
            : { peerDoorbell: doorbell(m.peerDoorbell, 'peer doorbell id') }),
          ...(m.channelDevice === undefined ? {} : { channelDevice: m.channelDevice }),
        },
      ];
    case 'doorbellId':
      return ['doorbellId', { id: doorbell(m.id, 'doorbell id') }];
    case 'revoke':
      return ['revoke', { channelId: u64(m.channelId, 'channel id'), token: m.token, tag: m.tag }];
    case 'revokeAck':
      return ['revokeAck', { channelId: u64(m.channelId, 'channel id'), receipt: m.receipt }];
    case 'close':
      return ['close', { channelId: u64(m.channelId, 'channel id') }];
    case 'peerGone':
      return ['peerGone', { channelId: u64(m.channelId, 'channel id'), reason: m.reason }];
    case 'heartbeat':
      return [
        'heartbeat',
        { sequence: u64(m.sequence, 'sequence'), timeMs: u64(m.timeMs, 'time') },
      ];
    case 'error':
      return ['error', { code: m.code, message: m.message }];
    case 'resize':
    case 'resized':
      return resizeFields(m);
  }
}

/** The fields of the two messages of a channel's move (docs/protocol.md §11). */
function resizeFields(m: Extract<ControlMessage, { kind: 'resize' | 'resized' }>): [string, Plain] {
  const ids = {
    channelId: u64(m.channelId, 'channel id'),
    successorId: u64(m.successorId, 'successor id'),
  };
  if (m.kind === 'resized') return ['resized', ids];
  return [
    'resize',
    { ...ids, grantToken: m.grantToken, grantTag: m.grantTag, timeoutMs: m.timeoutMs },
  ];
}

/**
 * Encodes one control message (the body of a frame; see `encodeControlFrame`).
 *
 * @example
 * ```ts
 * const body = encodeControlMessage({ kind: 'close', channelId: 7n });
 * ```
 */
export function encodeControlMessage(m: ControlMessage): Uint8Array {
  if (m.kind === 'handshake') {
    const peer =
      m.peerDoorbell === undefined ? undefined : doorbell(m.peerDoorbell, 'peer doorbell id');
    const fast = encodeHandshakeFrame(m.message, peer, m.channelDevice);
    if (fast !== undefined) return fast;
  }
  const t = controlType();
  const [field, value] = fieldsOf(m);
  return new Uint8Array(t.encode(t.fromObject({ [field]: value })).finish());
}

function bytesField(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? new Uint8Array(v) : new Uint8Array(0);
}

function exact(b: Uint8Array, size: number, what: string): Uint8Array {
  if (b.length !== size)
    throw new CoreError('ERR_DECODE', `${what} is ${b.length} bytes; it must be ${size}`);
  return b;
}

function nonEmpty(b: Uint8Array, what: string): Uint8Array {
  if (b.length === 0) throw new CoreError('ERR_DECODE', `${what} is empty`);
  return b;
}

function nonEmptyText(s: string, what: string): string {
  if (s === '') throw new CoreError('ERR_DECODE', `${what} is empty`);
  return s;
}

/**
 * Decodes one frame body into a {@link ControlMessage}. Throws `ERR_DECODE` for bytes that are
 * not a ControlMessage, for a message with no known kind, and for fields of the wrong size
 * (keys and nonces 32 bytes, revoke tags 32 bytes); it never allocates more than
 * `MAX_CONTROL_FRAME_SIZE` worth of input.
 */
export function decodeControlMessage(bytes: Uint8Array): ControlMessage {
  const fast = bytes.length <= MAX_CONTROL_FRAME_SIZE ? decodeHandshakeFrame(bytes) : undefined;
  if (fast !== undefined) {
    const peer = fast.peerDoorbell;
    return {
      kind: 'handshake',
      message: nonEmpty(fast.message, 'handshake message'),
      ...(peer === undefined ? {} : { peerDoorbell: doorbell(peer, 'peer doorbell id') }),
    };
  }
  const { kind, f } = decodePlain(bytes);
  switch (kind) {
    case 'hello':
      return { kind, version: num(f['version']), software: str(f['software']) };
    case 'attach':
      return attachFrom(f);
    case 'csr':
      return { kind, csr: nonEmpty(bytesField(f['csr']), 'CSR') };
    case 'certificate':
      return {
        kind,
        certificate: {
          tbs: nonEmpty(bytesField(f['tbs']), 'certificate'),
          sig: exact(bytesField(f['sig']), 64, 'certificate signature'),
        },
      };
    case 'sd':
      return { kind, message: nonEmpty(bytesField(f['message']), 'SD message') };
    case 'handshake': {
      const message = nonEmpty(bytesField(f['message']), 'handshake message');
      const device = f['channelDevice'];
      return {
        kind,
        message,
        ...(f['peerDoorbell'] === undefined || f['peerDoorbell'] === null
          ? {}
          : { peerDoorbell: doorbell(f['peerDoorbell'], 'peer doorbell id') }),
        ...(device === undefined || device === null
          ? {}
          : { channelDevice: nonEmptyText(str(device), 'channel device path') }),
      };
    }
    case 'doorbellId':
      return { kind, id: doorbell(f['id'], 'doorbell id') };
    case 'revoke':
      return {
        kind,
        channelId: big(f['channelId']),
        token: nonEmpty(bytesField(f['token']), 'revoke token'),
        tag: exact(bytesField(f['tag']), 32, 'revoke tag'),
      };
    case 'revokeAck':
      // Any length decodes: a wrong receipt is hostd's to refuse (and count), not a bad frame.
      return { kind, channelId: big(f['channelId']), receipt: bytesField(f['receipt']) };
    case 'close':
      return { kind, channelId: big(f['channelId']) };
    case 'peerGone':
      return { kind, channelId: big(f['channelId']), reason: str(f['reason']) };
    case 'heartbeat':
      return { kind, sequence: big(f['sequence']), timeMs: big(f['timeMs']) };
    case 'error':
      return { kind, code: str(f['code']), message: str(f['message']) };
    case 'resize':
      return {
        kind,
        channelId: big(f['channelId']),
        successorId: big(f['successorId']),
        grantToken: nonEmpty(bytesField(f['grantToken']), 'resize grant token'),
        grantTag: exact(bytesField(f['grantTag']), 32, 'resize grant tag'),
        timeoutMs: num(f['timeoutMs']),
      };
    case 'resized':
      return { kind, channelId: big(f['channelId']), successorId: big(f['successorId']) };
    default:
      throw new CoreError('ERR_DECODE', `control message kind ${String(kind)} is unknown`);
  }
}

/** Bounds-checks and decodes the protobuf: the oneof's name and its fields as plain values. */
function decodePlain(bytes: Uint8Array): { kind: unknown; f: Plain } {
  if (bytes.length > MAX_CONTROL_FRAME_SIZE) {
    throw new CoreError(
      'ERR_DECODE',
      `control message of ${bytes.length} bytes is over the limit of ${MAX_CONTROL_FRAME_SIZE}`,
    );
  }
  const t = controlType();
  let o: Plain;
  try {
    o = t.toObject(t.decode(bytes), { longs: String, oneofs: true, defaults: true }) as Plain;
  } catch (e) {
    throw new CoreError('ERR_DECODE', `control message does not decode: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const kind = o['kind'];
  const f = (typeof kind === 'string' ? o[kind] : undefined) as Plain | undefined;
  if (f === undefined) throw new CoreError('ERR_DECODE', 'control message carries no known kind');
  return { kind, f };
}

function attachFrom(f: Plain): ControlMessage {
  const r = (f['region'] ?? {}) as Plain;
  const grantKey = bytesField(f['grantKey']);
  return {
    kind: 'attach',
    vmId: num(f['vmId']),
    vmName: str(f['vmName']),
    epoch: big(f['epoch']),
    caPublicKey: exact(bytesField(f['caPublicKey']), KEY_SIZE, 'attach CA public key'),
    brokerCertificate: {
      tbs: nonEmpty(bytesField(f['brokerCertTbs']), 'attach broker certificate'),
      sig: exact(bytesField(f['brokerCertSig']), 64, 'attach broker certificate signature'),
    },
    region: {
      path: str(r['path']),
      size: big(r['size']),
      dataOffset: big(r['dataOffset']),
      dataSize: big(r['dataSize']),
      channelCapacity: num(r['channelCapacity']),
    },
    ...(grantKey.length === 0 ? {} : { grantKey: exact(grantKey, KEY_SIZE, 'grant key') }),
    ivshmemSocket: str(f['ivshmemSocket']),
    enrolmentNonce: exact(bytesField(f['enrolmentNonce']), KEY_SIZE, 'enrolment nonce'),
  };
}

/** protobufjs gives 64-bit fields as decimal strings (`longs: String`); absent ones as 0. */
function big(v: unknown): bigint {
  return BigInt(typeof v === 'string' ? v : 0);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
