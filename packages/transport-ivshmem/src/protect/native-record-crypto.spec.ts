import { expect } from 'chai';
import { cryptoBackend } from '@sivshm/core';
import { loadAddon } from '../native/addon.js';
import { toTransportError } from '../native/native-call.js';
import { TransportError } from '../errors/transport-error.js';
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

  it('should address only the bound ring and private buffer in its offset forms, with the arguments in a bound call block', () => {
    const addon = loadAddon();
    const h = addon.recordCipherCreate(0, key, channelId, 1);
    const block = new Uint32Array(8);
    // sequence 1, header words 1 2 3, offset 0, length 4, record offset 0
    const put = (...words: number[]): void => block.set(words);
    put(1, 0, 1, 2, 3, 0, 4, 0);
    expect(() => addon.recordSealAt(h)).to.throw(/no call block/);
    expect(() => addon.recordBind(h, 2, new Uint32Array(7))).to.throw(/8 words/);
    expect(() => addon.recordBind(h, 2, new Uint8Array(32))).to.throw(/8 words/);
    expect(() => addon.recordBind(h, 3 as 2, block)).to.throw(/which/);
    addon.recordBind(h, 2, block);
    expect(() => addon.recordSealAt(h)).to.throw(/private buffer range/);
    addon.recordBind(h, 1, new Uint8Array(8));
    expect(() => addon.recordSealAt(h)).to.throw(/ring range/);
    const ring = new Uint8Array(64);
    addon.recordBind(h, 0, ring.subarray(8, 8 + 28)); // exactly one 4-byte body's record
    addon.recordSealAt(h);
    put(1, 0, 1, 2, 3, 5, 4, 0); // plaintext past the private buffer's 8 bytes
    expect(() => addon.recordSealAt(h)).to.throw(/private buffer range/);
    put(1, 0, 1, 2, 3, 0, 4, 1); // record past the ring's end
    expect(() => addon.recordSealAt(h)).to.throw(/ring range/);
    put(0, 0, 1, 2, 3, 0, 4, 0);
    expect(() => addon.recordSealAt(h)).to.throw(/sequence/);
    put(0, 0x20_0000, 1, 2, 3, 0, 4, 0); // 2^53
    expect(() => addon.recordSealAt(h)).to.throw(/sequence/);
    put(1, 0, 1, 2, 3, 0, 23);
    expect(() => addon.recordOpenAt(h)).to.throw(/24 bytes/);
    put(1, 0, 1, 2, 3, 1, 28);
    expect(() => addon.recordOpenAt(h)).to.throw(/ring range/);
    put(1, 0, 1, 2, 3, 0, 28);
    expect(() => addon.recordOpenAt(h)).to.throw(/private buffer range/); // 8 bytes bound
    addon.recordBind(h, 1, new Uint8Array(28));
    expect(addon.recordOpenAt(h)).to.equal(OpenResult.opened);
    expect([...ring.subarray(0, 8), ...ring.subarray(36)].every((b) => b === 0)).to.equal(true);
    addon.recordCipherDispose(h);
    expect(() => addon.recordSealAt(h)).to.throw(/disposed/);
  });

  it('should run the offset forms as methods of the handle, refusing a receiver that is not a handle and a disposed handle', () => {
    const addon = loadAddon();
    const h = addon.recordCipherCreate(0, key, channelId, 1);
    const other = addon.recordCipherCreate(0, key, channelId, 1);
    // Every handle shares one prototype: one target for a channel's call site.
    expect(Object.getPrototypeOf(h)).to.equal(Object.getPrototypeOf(other));
    const block = new Uint32Array(8);
    block.set([1, 0, 1, 2, 3, 0, 4, 0]);
    const ring = new Uint8Array(28);
    addon.recordBind(h, 2, block);
    addon.recordBind(h, 1, new Uint8Array(28).fill(9));
    addon.recordBind(h, 0, ring);
    h.sealAt();
    // The same bytes as the function form: seal the same record with it into a second ring.
    const viaFunction = new Uint8Array(28);
    addon.recordBind(h, 0, viaFunction);
    addon.recordSealAt(h);
    expect([...ring]).to.deep.equal([...viaFunction]);
    block.set([1, 0, 1, 2, 3, 0, 28, 0]);
    expect(h.openAt()).to.equal(OpenResult.opened);
    viaFunction[0] = (viaFunction[0] ?? 0) ^ 1;
    expect(h.openAt()).to.equal(OpenResult.badTag);
    // V8 checks the receiver (the methods' signature): not a handle, not an object made from one.
    expect(() => Reflect.apply(h.sealAt, {}, [])).to.throw(TypeError);
    expect(() => Reflect.apply(h.openAt, Object.create(h) as object, [])).to.throw(TypeError);
    addon.recordCipherDispose(h);
    expect(() => h.sealAt()).to.throw(/disposed/);
    expect(() => h.openAt()).to.throw(/disposed/);
    addon.recordCipherDispose(other);
  });

  it('should report a failure of the crypto library as ERR_CRYPTO, not as a refused argument', () => {
    // The addon throws code ERR_CRYPTO only when OpenSSL fails, which no input makes it do.
    const e = toTransportError(
      Object.assign(new Error('OpenSSL failed: GMAC'), { code: 'ERR_CRYPTO' }),
    );
    expect(TransportError.is(e) && e.code).to.equal('ERR_CRYPTO');
    expect((e as Error).message).to.equal('OpenSSL failed: GMAC');
  });

  it('should seal and open mac records of every body length up to 80 bytes like noble, with the body ending where the bound buffers end', () => {
    // mac's one-pass path builds GHASH blocks from 16-byte loads and stores: every partial
    // block, a body shorter than one block, and a body flush with the end of the memory it may
    // read are the cases to get right.
    const fast = nativeRecordCrypto.cipher(options('mac'));
    const reference = jsRecordCrypto(cryptoBackend('noble')).cipher(options('mac'));
    const opened = new Uint8Array(80 + 24);
    for (let n = 0; n <= 80; n++) {
      const plain = Uint8Array.from({ length: n }, (_, i) => (i * 13 + n) & 0xff);
      const privateSide = new Uint8Array(3 + n);
      privateSide.set(plain, 3);
      const ring = new Uint8Array(5 + n + 24);
      fast.bind('private', privateSide);
      fast.bind('ring', ring);
      fast.sealAt(n + 1, header, 3, n, 5);
      const theirs = new Uint8Array(n + 24);
      reference.seal(n + 1, header, plain, theirs);
      expect(Buffer.from(ring.subarray(5)).toString('hex'), `${n} bytes`).to.equal(
        Buffer.from(theirs).toString('hex'),
      );
      fast.bind('private', opened.subarray(0, n + 24));
      expect(fast.openAt(n + 1, header, 5, n + 24), `${n} bytes`).to.equal(OpenResult.opened);
      expect(opened.subarray(0, n), `${n} bytes`).to.deep.equal(plain);
      if (n > 0) {
        ring[5 + n - 1] = (ring[5 + n - 1] ?? 0) ^ 0x80; // the body's last byte
        expect(fast.openAt(n + 1, header, 5, n + 24), `${n} bytes`).to.equal(OpenResult.badTag);
      }
    }
    fast.dispose();
    reference.dispose();
  });

  for (const mode of ['mac', 'aead'] as const) {
    it(`should seal and open ${mode} records by offset exactly as through views, over a run of sequence numbers`, () => {
      const viaOffsets = nativeRecordCrypto.cipher(options(mode));
      const viaViews = nativeRecordCrypto.cipher(options(mode));
      const reference = jsRecordCrypto(cryptoBackend('noble')).cipher(options(mode));
      const ring = new Uint8Array(4096);
      const plainSide = new Uint8Array(2048);
      viaOffsets.bind('ring', ring);
      viaOffsets.bind('private', plainSide);
      // 1..20 crosses the batches of nonces the GMAC path prepares ahead; then a jump back.
      const sequences = [...Array.from({ length: 20 }, (_, i) => i + 1), 3, 2 ** 53 - 1];
      for (const [i, sequence] of sequences.entries()) {
        const n = [0, 56, 1000, 1030][i % 4]!;
        const plain = Uint8Array.from({ length: n }, (_, k) => (k * 7 + i) & 0xff);
        plainSide.set(plain, 16);
        const at = 100 + i;
        viaOffsets.sealAt(sequence, header, 16, n, at);
        const theirs = new Uint8Array(n + 24);
        reference.seal(sequence, header, plain, theirs);
        const mine = ring.subarray(at, at + n + 24);
        expect(Buffer.from(mine).toString('hex'), `sequence ${sequence}`).to.equal(
          Buffer.from(theirs).toString('hex'),
        );
        const viewed = new Uint8Array(n + 24);
        viaViews.seal(sequence, header, plain, viewed);
        expect(viewed).to.deep.equal(theirs);
        plainSide.fill(0);
        expect(viaOffsets.openAt(sequence, header, at, n + 24)).to.equal(OpenResult.opened);
        expect(plainSide.subarray(0, n)).to.deep.equal(plain);
        const other = sequence === 2 ** 53 - 1 ? sequence - 1 : sequence + 1;
        expect(viaOffsets.openAt(other, header, at, n + 24)).to.equal(OpenResult.wrongSequence);
        ring[at + n + 8] = (ring[at + n + 8] ?? 0) ^ 1;
        expect(viaOffsets.openAt(sequence, header, at, n + 24)).to.equal(OpenResult.badTag);
      }
      viaOffsets.dispose();
      viaViews.dispose();
      reference.dispose();
    });

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
