// The grant-token vector set: fixed key, context and tokens → expected tag and verdict.
// `generate-grant-vectors.ts` writes it to test/fixtures/grant-vectors.json; the kernel
// module's test feeds the same file to sivshm.ko, and grant-verify.spec.ts checks core agrees.
import type { CryptoBackend } from '../../src/crypto/crypto-backend.js';
import { GrantLayout } from '@sivshm/abi';
import { encodeGrant, type GrantToken } from '../../src/grant/grant-token.js';
import { grantTag } from '../../src/grant/grant-verify.js';
import type { GrantVector, GrantVectorContext } from '@sivshm/testing';

export type { GrantVector, GrantVectorContext };

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

export const KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
export const OTHER_KEY = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
const KN = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
const NOW = 1_700_000_000_000_000_000n;
const CONTEXT: GrantVectorContext = {
  vmId: 2,
  epoch: '7',
  kn: hex(KN),
  nowNs: NOW.toString(),
  regionSize: 4 * 1024 * 1024,
  dataOffset: 64 * 1024,
  dataSize: 4 * 1024 * 1024 - 64 * 1024,
  seenSerials: ['3'],
};

const BASE: GrantToken = {
  role: 'consumer',
  perms: 1,
  epoch: 7n,
  grantSerial: 10n,
  vmId: 2,
  channelId: 0x1122334455667788n,
  windowOffset: 0x20000n,
  windowLength: 2n * (8192n + 65536n),
  kn: KN,
  notAfterNs: NOW + 5_000_000_000n,
  mode: 'plain',
  // The channel's doorbells: vector 1 of the VM at IVPosition 3, both ways.
  doorbell: { peer: 3, ring: 0b10, observe: 0b10 },
};

/** Builds every vector with `crypto` (both backends must produce the same file). */
export function buildGrantVectors(crypto: CryptoBackend): GrantVector[] {
  const out: GrantVector[] = [];
  const add = (
    name: string,
    token: Uint8Array,
    verdict: { expect: 'accept' | 'reject'; reason?: string },
    opts: { key?: Uint8Array; tag?: Uint8Array; context?: Partial<GrantVectorContext> } = {},
  ): void => {
    out.push({
      name,
      key: hex(KEY),
      token: hex(token),
      tag: hex(opts.tag ?? grantTag(crypto, opts.key ?? KEY, token)),
      context: { ...CONTEXT, ...opts.context },
      ...verdict,
    });
  };
  const ok = { expect: 'accept' as const };
  const no = (reason: string) => ({ expect: 'reject' as const, reason });
  const enc = (t: Partial<GrantToken>) => encodeGrant({ ...BASE, ...t });
  const patched = (f: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
    const b = enc({});
    f(b, new DataView(b.buffer));
    return b;
  };
  const O = GrantLayout.off;

  add('valid consumer grant', enc({}), ok);
  add('valid provider grant', enc({ role: 'provider', grantSerial: 11n }), ok);
  add(
    'valid aead grant, largest window',
    enc({ mode: 'aead', windowOffset: 64n * 1024n, windowLength: BigInt(CONTEXT.dataSize) }),
    ok,
  );
  add(
    'valid grant ending exactly at the end of the data section',
    enc({ windowOffset: 4n * 1024n * 1024n - 0x24000n }),
    ok,
  );
  // Tampered bytes under the original tag.
  const good = enc({});
  const goodTag = grantTag(crypto, KEY, good);
  for (const [field, off] of [
    ['magic', O.magic],
    ['role', O.role],
    ['epoch', O.epoch],
    ['serial', O.grantSerial],
    ['vm_id', O.vmId],
    ['channel_id', O.channelId],
    ['window_offset', O.windowOffset],
    ['window_length', O.windowLength + 1],
    ['kn', O.kn + 15],
    ['not_after', O.notAfter + 7],
    ['mode', O.mode],
    ['db_peer', O.dbPeer],
    ['db_ring', O.dbRing + 1],
    ['db_observe', O.dbObserve + 3],
  ] as const) {
    const t = good.slice();
    t[off] = (t[off] ?? 0) ^ 0x01;
    add(`tampered ${field} under the original tag`, t, no('tag'), { tag: goodTag });
  }
  const flippedTag = goodTag.slice();
  flippedTag[31] = (flippedTag[31] ?? 0) ^ 0x80;
  add('tag with one bit flipped', good, no('tag'), { tag: flippedTag });
  add('tag made with another VM key', good, no('tag'), { key: OTHER_KEY });
  add('all-zero tag', good, no('tag'), { tag: fill(32, 0) });
  // Re-tagged with the right key, but breaking one rule each.
  add(
    'wrong magic',
    patched((_b, dv) => dv.setUint32(O.magic, 0x47564954, true)),
    no('magic'),
  );
  add(
    'version 1 grant (no doorbell route)',
    patched((_b, dv) => dv.setUint8(O.version, 1)),
    no('version'),
  );
  add(
    'unknown version',
    patched((_b, dv) => dv.setUint8(O.version, 3)),
    no('version'),
  );
  add(
    'role 0',
    patched((_b, dv) => dv.setUint8(O.role, 0)),
    no('role'),
  );
  add(
    'role 3',
    patched((_b, dv) => dv.setUint8(O.role, 3)),
    no('role'),
  );
  add(
    'perms without MAP',
    patched((_b, dv) => dv.setUint16(O.perms, 0, true)),
    no('perms'),
  );
  add(
    'unknown perms bit',
    patched((_b, dv) => dv.setUint16(O.perms, 3, true)),
    no('perms'),
  );
  add(
    'non-zero pad after vm_id',
    patched((_b, dv) => dv.setUint32(O.pad0, 1, true)),
    no('pad'),
  );
  add(
    'non-zero trailing pad',
    patched((b) => (b[O.pad1 + GrantLayout.pad1Size - 1] = 1)), // byte 87, the last pad byte
    no('pad'),
  );
  add(
    'non-zero pad after db_peer',
    patched((_b, dv) => dv.setUint16(O.pad2, 1, true)),
    no('pad'),
  );
  add(
    'non-zero pad after db_observe',
    patched((_b, dv) => dv.setUint32(O.pad3, 0x80000000, true)),
    no('pad'),
  );
  add(
    'doorbell route ringing without a peer',
    patched((_b, dv) => dv.setUint16(O.dbPeer, 0xffff, true)),
    no('doorbell'),
  );
  add(
    'valid grant without a doorbell route',
    enc({ grantSerial: 12n, doorbell: { peer: undefined, ring: 0, observe: 0 } }),
    ok,
  );
  add(
    'valid grant observing without ringing',
    enc({ grantSerial: 13n, doorbell: { peer: undefined, ring: 0, observe: 1 } }),
    ok,
  );
  add(
    'valid grant naming every vector of the highest peer',
    enc({ grantSerial: 14n, doorbell: { peer: 0xfffe, ring: 0xffffffff, observe: 0xffffffff } }),
    ok,
  );
  add(
    'unknown mode',
    patched((_b, dv) => dv.setUint8(O.mode, 3)),
    no('mode'),
  );
  add('grant for another VM', enc({ vmId: 3 }), no('vm'));
  add('grant of an old epoch', enc({ epoch: 6n }), no('epoch'));
  add('grant of a future epoch', enc({ epoch: 8n }), no('epoch'));
  add("grant bound to another file's nonce", enc({ kn: fill(16, 0x41) }), no('kn'));
  add('window offset not page-aligned', enc({ windowOffset: 0x20000n + 8n }), no('window'));
  add('window length not a page multiple', enc({ windowLength: 0x24000n - 16n }), no('window'));
  add('empty window', enc({ windowLength: 0n }), no('window'));
  add('window over the control section', enc({ windowOffset: 60n * 1024n }), no('window'));
  add('window over the header', enc({ windowOffset: 0n }), no('window'));
  add(
    'window past the end of the region',
    enc({ windowOffset: 4n * 1024n * 1024n - 0x20000n }),
    no('window'),
  );
  add('window with a wrapping offset', enc({ windowOffset: (1n << 64n) - 4096n }), no('window'));
  add('expired grant (not_after == now)', enc({ notAfterNs: NOW }), no('expired'));
  add('expired grant (not_after < now)', enc({ notAfterNs: NOW - 1n }), no('expired'));
  add('replayed serial', enc({ grantSerial: 3n }), no('replay'));
  add('serial just inside the window', enc({ grantSerial: 37n }), ok, {
    context: { seenSerials: ['100'] },
  });
  add('serial too old for the window', enc({ grantSerial: 36n }), no('replay'), {
    context: { seenSerials: ['100'] },
  });
  add('serial seen inside the window', enc({ grantSerial: 99n }), no('replay'), {
    context: { seenSerials: ['100', '99'] },
  });
  return out;
}
