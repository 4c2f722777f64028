// Writes test/fixtures/record-vectors.json: known answers for the protected record format
// (src/protect/record-format.ts) from fixed keys, sealed with core's noble backend (independent of
// OpenSSL). record-vectors.spec.ts checks them with every backend.
// Run: npx tsx packages/transport-ivshmem/test/vectors/generate-record-vectors.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cryptoBackend } from '@sivshm/core';
import { jsRecordCrypto } from '../../src/protect/js-record-cipher.js';
import { SealedRecordLayout, type RecordDirection } from '../../src/protect/record-format.js';
import type { ProtectedMode } from '../../src/protect/record-crypto.js';
import { RecordSealer } from '../../src/protect/record-sealer.js';
import type { SomeIpHeader } from '../../src/ring/someip-header.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const key = (fill: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => fill ^ i);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const cases: {
  name: string;
  mode: ProtectedMode;
  direction: RecordDirection;
  sequence: number;
  header: SomeIpHeader;
  plain: Uint8Array;
}[] = [
  {
    name: 'mac request, first record',
    mode: 'mac',
    direction: 'c2p',
    sequence: 1,
    header: {
      service: 0x1234,
      method: 1,
      client: 9,
      session: 1,
      interfaceVersion: 1,
      messageType: 0x00,
      returnCode: 0,
    },
    plain: text('hello, provider'),
  },
  {
    name: 'mac event, empty payload, second record',
    mode: 'mac',
    direction: 'p2c',
    sequence: 2,
    header: {
      service: 0x1234,
      method: 0x8001,
      client: 0,
      session: 2,
      interfaceVersion: 1,
      messageType: 0x02,
      returnCode: 0,
    },
    plain: new Uint8Array(0),
  },
  {
    name: 'aead request, first record',
    mode: 'aead',
    direction: 'c2p',
    sequence: 1,
    header: {
      service: 0x1234,
      method: 1,
      client: 9,
      session: 1,
      interfaceVersion: 1,
      messageType: 0x00,
      returnCode: 0,
    },
    plain: text('sivshm aead record vector'),
  },
  {
    name: 'aead response, sequence above 2^32',
    mode: 'aead',
    direction: 'p2c',
    sequence: 2 ** 32 + 5,
    header: {
      service: 0x1234,
      method: 1,
      client: 9,
      session: 7,
      interfaceVersion: 1,
      messageType: 0x80,
      returnCode: 0,
    },
    plain: Uint8Array.from({ length: 64 }, (_, i) => i),
  },
  {
    name: "aead event, 5000 bytes (past the addon's small-record path)",
    mode: 'aead',
    direction: 'p2c',
    sequence: 3,
    header: {
      service: 0x1234,
      method: 0x8002,
      client: 0,
      session: 3,
      interfaceVersion: 1,
      messageType: 0x02,
      returnCode: 0,
    },
    plain: Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff),
  },
  {
    name: 'mac event, 5000 bytes',
    mode: 'mac',
    direction: 'c2p',
    sequence: 9,
    header: {
      service: 0x1234,
      method: 0x8002,
      client: 0,
      session: 9,
      interfaceVersion: 1,
      messageType: 0x02,
      returnCode: 0,
    },
    plain: Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff),
  },
  {
    name: 'aead event, empty payload',
    mode: 'aead',
    direction: 'p2c',
    sequence: 1,
    header: {
      service: 0xfffe,
      method: 0xfffe,
      client: 0,
      session: 0,
      interfaceVersion: 255,
      messageType: 0x02,
      returnCode: 0,
    },
    plain: new Uint8Array(0),
  },
];

const channelId = 0x0102_0304_0506_0708n;
const keys = { c2p: key(0x11), p2c: key(0x22) };
const vectors = cases.map((c) => {
  const sealer = new RecordSealer({
    mode: c.mode,
    key: keys[c.direction],
    channelId,
    direction: c.direction,
    crypto: jsRecordCrypto(cryptoBackend('noble')),
  });
  sealer.resumeAfterForTest(c.sequence - 1);
  const record = new Uint8Array(c.plain.length + SealedRecordLayout.overhead);
  sealer.seal(c.header, c.plain, record);
  return {
    name: c.name,
    mode: c.mode,
    direction: c.direction,
    sequence: c.sequence,
    header: c.header,
    plaintext: hex(c.plain),
    record: hex(record),
  };
});

const out = {
  about:
    'Known answers for sealed ring records (docs/protocol.md §4.1): record = body ‖ sequence (u64 LE) ‖ tag (16 B), A = channel id (u64 LE) ‖ direction (1 c2p, 2 p2c) ‖ sequence (u64 LE) ‖ SOME/IP header (length = 8 + record length); nonce = direction (u32 LE) ‖ sequence (u64 LE); mac: tag = GMAC, the AES-256-GCM tag of no plaintext with AAD = A ‖ plaintext, the body is the plaintext; aead: AES-256-GCM, AAD = A.',
  channelId: channelId.toString(),
  keys: { c2p: hex(keys.c2p), p2c: hex(keys.p2c) },
  vectors,
};
const target = fileURLToPath(new URL('../fixtures/record-vectors.json', import.meta.url));
writeFileSync(target, JSON.stringify(out, null, 2) + '\n');
process.stdout.write(`wrote ${vectors.length} vectors to ${target}\n`);
