import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { checkEd25519PublicKey } from '../crypto/ed25519-public-key-check.js';
import { CoreError } from '../errors/core-error.js';
import {
  CERT_VERSION,
  certificateHash,
  certificateSigningInput,
  encodeCertificateBody,
  keyId,
  verifyCertificate,
  type Certificate,
  type CertificateBody,
  type CertificateKind,
} from './certificate.js';
import { verifyCsr } from './csr.js';
import { canonicalRights, intersectRights, type Rights } from './rights.js';

/** The two keys hostd holds: the CA key signs certificates only; the broker key signs M2/M4/M6. */
export interface AuthorityKeys {
  readonly caSecretKey: Uint8Array;
  readonly brokerSecretKey: Uint8Array;
}

export interface CertificateAuthorityOptions {
  readonly crypto: CryptoBackend;
  readonly keys: AuthorityKeys;
  /** Current epoch; every certificate is bound to it (docs/protocol.md §9). */
  readonly epoch: bigint;
  /** Injected clock, unix milliseconds. */
  readonly nowMs: () => bigint;
  /** The most a VM may be granted (from services.yaml); undefined = unknown VM. */
  readonly allowedRights: (vmId: number) => Rights | undefined;
  /** Certificate lifetime; default 12 hours. */
  readonly validityMs?: bigint;
  /** How long an enrolment nonce stays usable; default 30 s. */
  readonly nonceLifetimeMs?: bigint;
  /** First serial to issue (persisted across restarts by the caller); default 1. */
  readonly firstSerial?: bigint;
}

interface IssuedCertificate {
  readonly cert: Certificate;
  readonly body: CertificateBody;
}

/**
 * hostd's certificate authority (docs/protocol.md §6.1): enrols app endpoints by CSR with proof of
 * possession and a fresh nonce, grants rights = requested ∩ policy, refuses small-order and
 * non-canonical keys, revokes by serial, and looks certificates up by hash for the broker.
 */
export class CertificateAuthority {
  readonly caPublicKey: Uint8Array;
  readonly brokerPublicKey: Uint8Array;
  /** The broker's own certificate (kind `broker`), signed by the CA key. */
  readonly brokerCertificate: Certificate;

  private readonly crypto: CryptoBackend;
  private readonly keys: AuthorityKeys;
  private readonly opts: CertificateAuthorityOptions;
  private nextSerial: bigint;
  private readonly revoked = new Set<bigint>();
  private readonly byHash = new Map<string, IssuedCertificate>();
  private readonly nonces = new Map<number, { nonce: Uint8Array; expiresMs: bigint }>();

  constructor(opts: CertificateAuthorityOptions) {
    this.opts = opts;
    this.crypto = opts.crypto;
    this.keys = opts.keys;
    this.nextSerial = opts.firstSerial ?? 1n;
    this.caPublicKey = this.crypto.ed25519PublicKey(opts.keys.caSecretKey);
    this.brokerPublicKey = this.crypto.ed25519PublicKey(opts.keys.brokerSecretKey);
    this.brokerCertificate = this.issue({
      vmId: 0,
      subject: 'sivshm-broker',
      publicKey: this.brokerPublicKey,
      rights: { offers: [], requests: [] },
      kind: 'broker',
    });
  }

  get epoch(): bigint {
    return this.opts.epoch;
  }

  /** The serial the next certificate will get (persist it to keep serials unique). */
  get serialHighWater(): bigint {
    return this.nextSerial;
  }

  /**
   * A fresh single-use nonce for the control link of `vmId`; the VM's next CSR must carry it.
   * A new call replaces the previous nonce.
   */
  enrolmentNonce(vmId: number): Uint8Array {
    const nonce = this.crypto.randomBytes(32);
    this.nonces.set(vmId, {
      nonce,
      expiresMs: this.opts.nowMs() + (this.opts.nonceLifetimeMs ?? 30_000n),
    });
    return nonce;
  }

  /**
   * Enrols the endpoint that sent `csrBytes` on the control link of `linkVmId` (the VM is
   * taken from the link, never from the CSR). Checks proof of possession, the nonce (single
   * use, not expired), the key (canonical, not small-order), then issues a certificate whose
   * rights are the CSR's request intersected with what the config allows that VM.
   */
  enrol(linkVmId: number, csrBytes: Uint8Array): Certificate {
    const allowed = this.opts.allowedRights(linkVmId);
    if (allowed === undefined)
      throw new CoreError('ERR_CSR_INVALID', `VM ${linkVmId} is not configured`);
    const pending = this.nonces.get(linkVmId);
    this.nonces.delete(linkVmId); // single use, whatever the outcome (even a bad CSR burns it)
    const csr = verifyCsr(this.crypto, csrBytes);
    if (pending === undefined || !equalConstantTime(pending.nonce, csr.nonce)) {
      throw new CoreError(
        'ERR_CSR_INVALID',
        'CSR nonce is not the one issued to this link (stale or replayed CSR)',
      );
    }
    if (this.opts.nowMs() >= pending.expiresMs) {
      throw new CoreError('ERR_CSR_INVALID', 'CSR nonce expired; ask for a new one');
    }
    return this.issue({
      vmId: linkVmId,
      subject: csr.subject,
      publicKey: csr.publicKey,
      rights: intersectRights(csr.rights, allowed),
      kind: 'endpoint',
    });
  }

  /**
   * Issues a certificate directly (administrative path, e.g. `sivshm ca issue`). The key is
   * checked like at enrolment; the rights are taken as given (canonicalized).
   */
  issue(req: {
    readonly vmId: number;
    readonly subject: string;
    readonly publicKey: Uint8Array;
    readonly rights: Rights;
    readonly kind: CertificateKind;
  }): Certificate {
    checkEd25519PublicKey(req.publicKey);
    const now = this.opts.nowMs();
    const body: CertificateBody = {
      version: CERT_VERSION,
      serial: this.nextSerial++,
      epoch: this.opts.epoch,
      vmId: req.vmId,
      subject: req.subject,
      publicKey: new Uint8Array(req.publicKey),
      rights: canonicalRights(req.rights),
      notBeforeMs: now,
      notAfterMs: now + (this.opts.validityMs ?? 12n * 3600n * 1000n),
      issuerKeyId: keyId(this.crypto, this.caPublicKey),
      kind: req.kind,
    };
    const tbs = encodeCertificateBody(body);
    const cert: Certificate = {
      tbs,
      sig: this.crypto.ed25519Sign(this.keys.caSecretKey, certificateSigningInput(tbs)),
    };
    this.byHash.set(hex(certificateHash(this.crypto, cert)), { cert, body });
    return cert;
  }

  /** Revokes a serial: later verifications by this CA (and the broker) refuse it. */
  revoke(serial: bigint): void {
    this.revoked.add(serial);
  }

  isRevoked(serial: bigint): boolean {
    return this.revoked.has(serial);
  }

  /** Revoked serials, for persistence and for `sivshm status`. */
  revokedSerials(): bigint[] {
    return [...this.revoked].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * The certificate issued by this CA with SHA-256 `hash`, verified now (epoch, time,
   * revocation); undefined if unknown. The broker resolves M1/M3 certificate hashes with it.
   */
  lookup(hash: Uint8Array): { cert: Certificate; body: CertificateBody } | undefined {
    const found = this.byHash.get(hex(hash));
    if (found === undefined) return undefined;
    this.verify(found.cert, found.body.kind);
    return found;
  }

  /** Verifies any certificate against this CA's key, epoch, clock and revocation list. */
  verify(cert: Certificate, kind: CertificateKind = 'endpoint'): CertificateBody {
    return verifyCertificate(this.crypto, cert, {
      caPublicKey: this.caPublicKey,
      epoch: this.opts.epoch,
      nowMs: this.opts.nowMs(),
      isRevoked: (s) => this.revoked.has(s),
      kind,
    });
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
