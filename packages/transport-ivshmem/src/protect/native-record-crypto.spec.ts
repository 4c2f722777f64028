import { expect } from 'chai';
import { cryptoBackend } from '@sivshm/core';
import { loadAddon } from '../native/addon.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { nativeRecordCrypto } from './native-record-crypto.js';
import { jsRecordCrypto } from './js-record-cipher.js';
import { OpenResult, type ProtectedMode } from './record-crypto.js';

describe('native record crypto (addon)', () => {
  const key = new Uint8Array(32).fill(7);
  const channelId = 0x1122_3344_5566_7788n;
  const header: SomeIpHeader = {
    service: 0xbeef, // top bit set: the header words travel as negative int32
    method: 0x8001,
    client: 0,
    session: 4,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
  };
  const options = (mode: ProtectedMode) => ({ mode, key, channelId, direction: 'p2c' as const });

  it('should refuse keys, sequences and records of the wrong size instead of reading past them', () => {
    const addon = loadAddon();
    expect(() => addon.recordCipherCreate(1, new Uint8Array(31), channelId, 1)).to.throw(
      /32 bytes/,
    );
    expect(() => addon.recordCipherCreate(3 as 1, key, channelId, 1)).to.throw(RangeError);
    expect(() => addon.recordCipherCreate(1, key, 5 as unknown as bigint, 1)).to.throw(/bigint/);
    expect(() => addon.recordCipherCreate(1, key, channelId, 3 as 1)).to.throw(/direction/);
    const h = addon.recordCipherCreate(1, key, channelId, 1);
    const seal = (seq: number, plain: number, record: number, w0 = 1): void =>
      addon.recordSeal(h, seq, w0, 2, 3, new Uint8Array(plain), new Uint8Array(record));
    expect(() => seal(1, 4, 27)).to.throw(/plain \+ 24/);
    expect(() => seal(0, 4, 28)).to.throw(/sequence/);
    expect(() => seal(1.5, 4, 28)).to.throw(/sequence/);
    expect(() => seal(2 ** 53, 4, 28)).to.throw(/sequence/);
    expect(() => seal(1, 4, 28, 2 ** 32)).to.throw(/header words/);
    const open = (record: number, out: number): number =>
      addon.recordOpen(h, 1, 1, 2, 3, new Uint8Array(record), new Uint8Array(out));
    expect(() => open(23, 23)).to.throw(/24 bytes/);
    expect(() => open(30, 29)).to.throw(/out is shorter/);
    addon.recordCipherDispose(h);
    expect(() => seal(1, 0, 24)).to.throw(/disposed/);
    expect(() => addon.recordSeal({}, 1, 1, 2, 3, new Uint8Array(0), new Uint8Array(24))).to.throw(
      /handle/,
    );
  });

  for (const mode of ['mac', 'aead'] as const) {
    it(`should open what it sealed in ${mode} mode, and refuse a flipped bit or another sequence`, () => {
      const c = nativeRecordCrypto.cipher(options(mode));
      const plain = new TextEncoder().encode('a secret in the ring');
      const record = new Uint8Array(plain.length + 24);
      c.seal(9, header, plain, record);
      const out = new Uint8Array(record.length);
      expect(c.open(9, header, record, out)).to.equal(OpenResult.opened);
      expect(out.subarray(0, plain.length)).to.deep.equal(plain);
      expect(c.open(10, header, record, out)).to.equal(OpenResult.wrongSequence);
      expect(c.open(9, { ...header, session: 5 }, record, out)).to.equal(OpenResult.badTag);
      record[3] = (record[3] ?? 0) ^ 1;
      out.fill(0x55);
      expect(c.open(9, header, record, out)).to.equal(OpenResult.badTag);
      if (mode === 'aead') {
        expect([...out.subarray(0, plain.length)].every((b) => b === 0)).to.equal(true);
      }
      c.dispose();
      expect(() => c.open(9, header, record, out)).to.throw(/disposed/);
    });

    it(`should seal and open ${mode} records like noble on both sides of its small-record path (1024 bytes) and of its 16 KiB open chunks`, () => {
      const fast = nativeRecordCrypto.cipher(options(mode));
      const reference = jsRecordCrypto(cryptoBackend('noble')).cipher(options(mode));
      for (const n of [0, 1, 15, 16, 17, 1023, 1024, 1025, 4096, 16 * 1024 + 40, 40_000]) {
        const plain = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
        const mine = new Uint8Array(n + 24);
        const theirs = new Uint8Array(n + 24);
        fast.seal(n + 1, header, plain, mine);
        reference.seal(n + 1, header, plain, theirs);
        expect(Buffer.from(mine).toString('hex'), `${n} bytes`).to.equal(
          Buffer.from(theirs).toString('hex'),
        );
        const out = new Uint8Array(n + 24);
        expect(fast.open(n + 1, header, mine, out)).to.equal(OpenResult.opened);
        expect(out.subarray(0, n)).to.deep.equal(plain);
        expect(reference.open(n + 1, header, mine, out)).to.equal(OpenResult.opened);
        mine[n + 8] = (mine[n + 8] ?? 0) ^ 1; // the tag's first byte
        expect(fast.open(n + 1, header, mine, out), `${n} bytes`).to.equal(OpenResult.badTag);
      }
      fast.dispose();
      reference.dispose();
    });
  }
});
