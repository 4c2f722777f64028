import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { CoreError } from '../errors/core-error.js';
import { CertificateAuthority } from './certificate-authority.js';
import { certificateToPem } from './certificate-pem.js';
import type { Rights } from './rights.js';

/** What a CA directory persists besides its keys. */
export interface CaState {
  readonly epoch: bigint;
  readonly nextSerial: bigint;
  readonly revoked: readonly bigint[];
}

const FILES = {
  caKey: 'ca.key',
  brokerKey: 'broker.key',
  caPub: 'ca.pub',
  state: 'ca-state.json',
  brokerCert: 'broker.cert',
} as const;

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function readKey(path: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw new CoreError(
      'ERR_IO',
      `cannot read ${path}: ${(e as Error).message} (run "sivshm ca init")`,
      { cause: e },
    );
  }
  if (!/^[0-9a-f]{64}$/i.test(text))
    throw new CoreError('ERR_BAD_KEY', `${path} must hold 64 hex characters`);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

/**
 * Creates a CA directory: a fresh CA key and broker key (0600), the CA public key, and the state
 * file (epoch 1, serials from 1). Refuses to overwrite an existing CA unless `force`.
 */
export async function initCaDirectory(
  dir: string,
  opts: { readonly crypto: CryptoBackend; readonly force?: boolean; readonly epoch?: bigint },
): Promise<{ caPublicKey: Uint8Array; brokerPublicKey: Uint8Array }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!opts.force && (await exists(join(dir, FILES.caKey)))) {
    throw new CoreError(
      'ERR_IO',
      `${join(dir, FILES.caKey)} exists; pass --force to replace the CA (every certificate dies)`,
    );
  }
  const ca = opts.crypto.ed25519GenerateSecretKey();
  const broker = opts.crypto.ed25519GenerateSecretKey();
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  await writeAtomic(join(dir, FILES.caKey), hex(ca) + '\n', 0o600);
  await writeAtomic(join(dir, FILES.brokerKey), hex(broker) + '\n', 0o600);
  const caPublicKey = opts.crypto.ed25519PublicKey(ca);
  await writeAtomic(join(dir, FILES.caPub), hex(caPublicKey) + '\n');
  await saveState(dir, { epoch: opts.epoch ?? 1n, nextSerial: 1n, revoked: [] });
  return { caPublicKey, brokerPublicKey: opts.crypto.ed25519PublicKey(broker) };
}

async function saveState(dir: string, s: CaState): Promise<void> {
  const doc = {
    version: 1,
    epoch: s.epoch.toString(),
    nextSerial: s.nextSerial.toString(),
    revoked: s.revoked.map(String),
  };
  await writeAtomic(join(dir, FILES.state), JSON.stringify(doc, null, 2) + '\n');
}

async function loadState(dir: string): Promise<CaState> {
  const path = join(dir, FILES.state);
  let doc: { version?: unknown; epoch?: unknown; nextSerial?: unknown; revoked?: unknown };
  try {
    doc = JSON.parse(await readFile(path, 'utf8')) as typeof doc;
  } catch (e) {
    throw new CoreError(
      'ERR_IO',
      `cannot read ${path}: ${(e as Error).message} (run "sivshm ca init")`,
      { cause: e },
    );
  }
  const num = (v: unknown, what: string): bigint => {
    if (typeof v !== 'string' || !/^\d{1,20}$/.test(v))
      throw new CoreError('ERR_IO', `${path}: ${what} must be a decimal string`);
    return BigInt(v);
  };
  if (doc.version !== 1) throw new CoreError('ERR_IO', `${path}: version must be 1`);
  if (!Array.isArray(doc.revoked)) throw new CoreError('ERR_IO', `${path}: revoked must be a list`);
  return {
    epoch: num(doc.epoch, 'epoch'),
    nextSerial: num(doc.nextSerial, 'nextSerial'),
    revoked: doc.revoked.map((r, i) => num(r, `revoked[${i}]`)),
  };
}

/** An opened CA directory: the authority, and `save()` to persist serials, revocations, epoch. */
export interface OpenedCa {
  readonly ca: CertificateAuthority;
  readonly dir: string;
  /**
   * The broker's Ed25519 secret key (signs M2/M4/M6), for `BrokerHandshakes`: the composition
   * root takes it from here instead of reading `broker.key` a second time.
   */
  readonly brokerSecretKey: Uint8Array;
  save(): Promise<void>;
}

/**
 * Opens a CA directory. With `bumpEpoch` (hostd does this at every start) the epoch is
 * incremented and persisted before anything is issued, so a restart revokes every certificate,
 * grant and channel of the previous run (docs/protocol.md §9).
 */
export async function openCaDirectory(
  dir: string,
  opts: {
    readonly crypto: CryptoBackend;
    readonly nowMs: () => bigint;
    readonly allowedRights?: (vmId: number) => Rights | undefined;
    readonly bumpEpoch?: boolean;
    readonly validityMs?: bigint;
    /** Inspect only: write nothing (neither at open nor on `save()`). */
    readonly readOnly?: boolean;
  },
): Promise<OpenedCa> {
  const state = await loadState(dir);
  const epoch = opts.bumpEpoch ? state.epoch + 1n : state.epoch;
  if (opts.bumpEpoch && opts.readOnly === true) {
    throw new CoreError('ERR_IO', 'cannot bump the epoch of a CA opened read-only');
  }
  if (opts.bumpEpoch) await saveState(dir, { ...state, epoch });
  const brokerSecretKey = await readKey(join(dir, FILES.brokerKey));
  const ca = new CertificateAuthority({
    crypto: opts.crypto,
    keys: { caSecretKey: await readKey(join(dir, FILES.caKey)), brokerSecretKey },
    epoch,
    nowMs: opts.nowMs,
    allowedRights: opts.allowedRights ?? (() => undefined),
    firstSerial: state.nextSerial,
    ...(opts.validityMs === undefined ? {} : { validityMs: opts.validityMs }),
  });
  for (const r of state.revoked) ca.revoke(r);
  const save = async (): Promise<void> => {
    if (opts.readOnly === true)
      throw new CoreError('ERR_IO', `CA directory ${dir} was opened read-only`);
    await saveState(dir, { epoch, nextSerial: ca.serialHighWater, revoked: ca.revokedSerials() });
    await writeAtomic(join(dir, FILES.brokerCert), certificateToPem(ca.brokerCertificate));
  };
  if (opts.readOnly !== true) await save();
  return { ca, dir, brokerSecretKey, save };
}
