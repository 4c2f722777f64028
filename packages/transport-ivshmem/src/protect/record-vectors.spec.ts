import { expect } from 'chai';
import { cryptoBackend } from '@sivshm/core';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TransportError } from '../errors/transport-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { IntegrityError } from './integrity-error.js';
import { nativeRecordCrypto } from './native-record-crypto.js';
import { jsRecordCrypto } from './js-record-cipher.js';
import type { ProtectedMode } from './record-crypto.js';
import { MAX_RECORD_SEQUENCE, SealedRecordLayout, type RecordDirection } from './record-format.js';
import { RecordOpener } from './record-opener.js';
import { RecordSealer } from './record-sealer.js';

interface Vector {
  readonly name: string;
  readonly mode: ProtectedMode;
  readonly direction: RecordDirection;
  readonly sequence: number;
  readonly header: SomeIpHeader;
  readonly plaintext: string;
  readonly record: string;
}

// dist/src/protect → the package root, where test/fixtures lives (not copied into dist).
const fixture = fileURLToPath(
  new URL('../../../test/fixtures/record-vectors.json', import.meta.url),
);
const file = JSON.parse(readFileSync(fixture, 'utf8')) as {
  channelId: string;
  keys: { c2p: string; p2c: string };
  vectors: Vector[];
};
const channelId = BigInt(file.channelId);
const keyOf = (d: RecordDirection): Uint8Array => Buffer.from(file.keys[d], 'hex');
const { overhead: OVERHEAD, tagSize: TAG } = SealedRecordLayout;
const nodeRecordCrypto = jsRecordCrypto(cryptoBackend('node'));
const nobleRecordCrypto = jsRecordCrypto(cryptoBackend('noble'));

/** A and the nonce built from the prose of docs/protocol.md, not from record-format.ts. */
function byTheSpec(v: Vector, recordLength: number): { a: Buffer; nonce: Buffer } {
  const dir = v.direction === 'c2p' ? 1 : 2;
  const a = Buffer.alloc(33);
  a.writeBigUInt64LE(channelId, 0);
  a[8] = dir;
  a.writeBigUInt64LE(BigInt(v.sequence), 9);
  const h = v.header;
  a.writeUInt16BE(h.service, 17);
  a.writeUInt16BE(h.method, 19);
  a.writeUInt32BE(8 + recordLength, 21);
  a.writeUInt16BE(h.client, 25);
  a.writeUInt16BE(h.session, 27);
  a.set([1, h.interfaceVersion, h.messageType, h.returnCode], 29);
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32LE(dir, 0);
  nonce.writeBigUInt64LE(BigInt(v.sequence), 4);
  return { a, nonce };
}

describe('record format known answers (test/fixtures/record-vectors.json)', () => {
  it('should hold vectors of both modes and both directions', () => {
    expect(file.vectors.map((v) => v.mode)).to.include.members(['mac', 'aead']);
    expect(file.vectors.map((v) => v.direction)).to.include.members(['c2p', 'p2c']);
  });

  for (const v of file.vectors) {
    it(`should match "${v.name}" computed from the spec's prose with raw node:crypto`, () => {
      const record = Buffer.from(v.record, 'hex');
      const plain = Buffer.from(v.plaintext, 'hex');
      const n = record.length - OVERHEAD;
      const { a, nonce } = byTheSpec(v, record.length);
      expect(record.readBigUInt64LE(n)).to.equal(BigInt(v.sequence));
      const tag = record.subarray(n + 8);
      if (v.mode === 'mac') {
        expect(record.subarray(0, n)).to.deep.equal(plain);
        // GMAC: AES-256-GCM of no plaintext, A ‖ body as associated data.
        const c = createCipheriv('aes-256-gcm', keyOf(v.direction), nonce, { authTagLength: TAG });
        c.setAAD(Buffer.concat([a, plain]));
        c.final();
        expect(tag).to.deep.equal(c.getAuthTag());
      } else {
        const d = createDecipheriv('aes-256-gcm', keyOf(v.direction), nonce, {
          authTagLength: TAG,
        });
        d.setAAD(a);
        d.setAuthTag(tag);
        const out = Buffer.concat([d.update(record.subarray(0, n)), d.final()]);
        expect(out).to.deep.equal(plain);
      }
    });

    for (const crypto of [nativeRecordCrypto, nodeRecordCrypto, nobleRecordCrypto]) {
      it(`should seal and open "${v.name}" byte for byte with the ${crypto.name} backend`, () => {
        const o = {
          mode: v.mode,
          key: keyOf(v.direction),
          channelId,
          direction: v.direction,
          crypto,
        };
        const sealer = new RecordSealer(o);
        sealer.resumeAfterForTest(v.sequence - 1);
        const plain = Buffer.from(v.plaintext, 'hex');
        const out = new Uint8Array(plain.length + OVERHEAD);
        sealer.seal(v.header, plain, out);
        expect(Buffer.from(out).toString('hex')).to.equal(v.record);
        const opener = new RecordOpener(o);
        opener.resumeAfterForTest(v.sequence - 1);
        expect(Buffer.from(opener.open(v.header, Buffer.from(v.record, 'hex')))).to.deep.equal(
          plain,
        );
        const tampered = Buffer.from(v.record, 'hex');
        tampered[tampered.length - 1]! ^= 0x80;
        const fresh = new RecordOpener(o);
        fresh.resumeAfterForTest(v.sequence - 1);
        expect(() => fresh.open(v.header, tampered)).to.throw(IntegrityError, /bad-tag/);
      });
    }
  }

  it('should refuse to seal past the last sequence number, so a (key, nonce) pair is never reused (25)', () => {
    const reported: string[] = [];
    const sealer = new RecordSealer({
      mode: 'aead',
      key: keyOf('c2p'),
      channelId,
      direction: 'c2p',
      crypto: nodeRecordCrypto,
      onExhausted: (e) => reported.push(e.code),
    });
    sealer.resumeAfterForTest(MAX_RECORD_SEQUENCE - 1);
    const header = file.vectors[0]!.header;
    sealer.seal(header, new Uint8Array(1), new Uint8Array(1 + OVERHEAD));
    expect(reported).to.deep.equal([]);
    const record = new Uint8Array(1 + OVERHEAD);
    expect(() => sealer.seal(header, new Uint8Array(1), record))
      .to.throw(TransportError)
      .with.property('code', 'ERR_SEQUENCE_EXHAUSTED');
    expect(reported).to.deep.equal(['ERR_SEQUENCE_EXHAUSTED']);
    expect(sealer.sequence).to.equal(MAX_RECORD_SEQUENCE);
    expect(
      [...record].every((b) => b === 0),
      'nothing sealed',
    ).to.equal(true);
  });
});
