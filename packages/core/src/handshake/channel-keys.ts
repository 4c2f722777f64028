import type { CryptoBackend } from '../crypto/crypto-backend.js';

/** Per-direction data keys of a keyed channel (`mac`/`aead` modes). */
export interface ChannelKeys {
  /** Consumer → provider. */
  readonly c2p: Uint8Array;
  /** Provider → consumer. */
  readonly p2c: Uint8Array;
}

const enc = new TextEncoder();

function info(label: string, channelId: bigint): Uint8Array {
  const l = enc.encode(`sivshm v1 ${label} `);
  const out = new Uint8Array(l.length + 8);
  out.set(l, 0);
  new DataView(out.buffer).setBigUint64(l.length, channelId, true);
  return out;
}

/**
 * Keyed modes (docs/protocol.md §6.4): z = X25519(own ephemeral, peer ephemeral) (all-zero aborts,
 * thrown by the backend), PRK = HKDF-Extract(salt = TH3, z),
 * keys = HKDF-Expand(PRK, "sivshm v1 c2p " || channel_id, 32) and "p2c". Salting with TH3 binds
 * the keys to this exact transcript.
 */
export function deriveChannelKeys(
  crypto: CryptoBackend,
  ownEphemeralSecret: Uint8Array,
  peerEphemeralPublic: Uint8Array,
  th3: Uint8Array,
  channelId: bigint,
): ChannelKeys {
  const z = crypto.x25519SharedSecret(ownEphemeralSecret, peerEphemeralPublic);
  const prk = crypto.hkdfExtract(th3, z);
  z.fill(0);
  const keys = {
    c2p: crypto.hkdfExpand(prk, info('c2p', channelId), 32),
    p2c: crypto.hkdfExpand(prk, info('p2c', channelId), 32),
  };
  prk.fill(0);
  return keys;
}
