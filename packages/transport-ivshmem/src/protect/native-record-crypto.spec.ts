import { expect } from 'chai';
import { loadAddon } from '../native/addon.js';
import { nativeRecordCrypto } from './native-record-crypto.js';
import { nobleRecordCrypto } from './noble-record-crypto.js';

describe('native record crypto (addon)', () => {
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(12);
  const aad = new Uint8Array(33);

  it('should refuse keys, nonces and records of the wrong size instead of reading past them', () => {
    const addon = loadAddon();
    expect(() => addon.recordCipherCreate(1, new Uint8Array(31))).to.throw(/32 bytes/);
    expect(() => addon.recordCipherCreate(3 as 1, key)).to.throw(RangeError);
    const h = addon.recordCipherCreate(1, key);
    expect(() =>
      addon.recordSeal(h, new Uint8Array(8), aad, new Uint8Array(4), new Uint8Array(28)),
    ).to.throw(/nonce/);
    expect(() => addon.recordSeal(h, nonce, aad, new Uint8Array(4), new Uint8Array(27))).to.throw(
      /plain \+ 24/,
    );
    expect(() =>
      addon.recordOpen(h, nonce, aad, new Uint8Array(23), new Uint8Array(23), new Uint8Array(0)),
    ).to.throw(/24 bytes/);
    expect(() =>
      addon.recordOpen(h, nonce, aad, new Uint8Array(30), new Uint8Array(30), new Uint8Array(5)),
    ).to.throw(/out is shorter/);
    expect(() => addon.recordMacCheck(h, aad, new Uint8Array(24), new Uint8Array(24))).to.throw(
      /mac cipher/,
    );
    addon.recordCipherDispose(h);
    expect(() => addon.recordSeal(h, nonce, aad, new Uint8Array(0), new Uint8Array(24))).to.throw(
      /disposed/,
    );
    expect(() => addon.recordSeal({}, nonce, aad, new Uint8Array(0), new Uint8Array(24))).to.throw(
      /handle/,
    );
  });

  it('should open what it sealed, refuse a flipped bit, and leave no plaintext in out then', () => {
    const c = nativeRecordCrypto.cipher('aead', key);
    const plain = new TextEncoder().encode('a secret in the ring');
    const record = new Uint8Array(plain.length + 24);
    c.seal(nonce, aad, plain, record);
    const out = new Uint8Array(plain.length);
    const scratch = new Uint8Array(record.length);
    expect(c.open(nonce, aad, record, scratch, out)).to.equal(true);
    expect(out).to.deep.equal(plain);
    record[3] = (record[3] ?? 0) ^ 1;
    out.fill(0x55);
    expect(c.open(nonce, aad, record, scratch, out)).to.equal(false);
    expect([...out].every((b) => b === 0)).to.equal(true);
    expect(() => c.open(nonce, aad, record, new Uint8Array(4), out)).to.throw(/scratch/);
    c.dispose();
    expect(() => c.open(nonce, aad, record, scratch, out)).to.throw(/disposed/);
  });

  it('should seal and open like noble on both sides of its small-record path (1024 bytes)', () => {
    const fast = nativeRecordCrypto.cipher('aead', key);
    const reference = nobleRecordCrypto.cipher('aead', key);
    for (const n of [0, 1, 15, 16, 17, 1023, 1024, 1025, 4096]) {
      const plain = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
      const mine = new Uint8Array(n + 24);
      const theirs = new Uint8Array(n + 24);
      fast.seal(nonce, aad, plain, mine);
      reference.seal(nonce, aad, plain, theirs);
      expect(Buffer.from(mine).toString('hex'), `${n} bytes`).to.equal(
        Buffer.from(theirs).toString('hex'),
      );
      const out = new Uint8Array(n);
      expect(fast.open(nonce, aad, mine, new Uint8Array(n + 24), out)).to.equal(true);
      expect(out).to.deep.equal(plain);
      mine[n + 8] = (mine[n + 8] ?? 0) ^ 1; // the tag's first byte
      expect(fast.open(nonce, aad, mine, new Uint8Array(n + 24), out), `${n} bytes`).to.equal(
        false,
      );
    }
    fast.dispose();
    reference.dispose();
  });
});
