import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REVOKE_RECEIPT_LABEL } from '@sivshm/abi';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { packageRoot } from '../util/package-root.js';
import { computeRevokeReceipt, verifyRevokeReceipt } from './revoke-receipt.js';

interface ReceiptVector {
  name: string;
  key: string;
  token: string;
  receipt: string;
}
const fixture = join(
  packageRoot(import.meta.url),
  'test',
  'fixtures',
  'revoke-receipt-vectors.json',
);
const file = JSON.parse(readFileSync(fixture, 'utf8')) as {
  label: string;
  vectors: ReceiptVector[];
};
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('revoke receipts', () => {
  it('should use the 24-byte label without a terminator that the vector file names', () => {
    expect(REVOKE_RECEIPT_LABEL).to.equal(file.label);
    expect(new TextEncoder().encode(REVOKE_RECEIPT_LABEL)).to.have.length(24);
  });

  describe('.computeRevokeReceipt', () => {
    for (const backend of [nobleBackend, nodeBackend]) {
      it(`should reproduce every known-answer vector with the ${backend.name} backend`, () => {
        expect(file.vectors.length).to.be.greaterThan(0);
        for (const v of file.vectors) {
          expect(hex(computeRevokeReceipt(backend, bytes(v.key), bytes(v.token))), v.name).to.equal(
            v.receipt,
          );
        }
      });
    }
  });

  describe('.verifyRevokeReceipt', () => {
    const v = file.vectors[0]!;
    it('should accept the genuine receipt', () => {
      expect(
        verifyRevokeReceipt(nodeBackend, bytes(v.key), bytes(v.token), bytes(v.receipt)),
      ).to.equal(true);
    });
    it('should refuse a missing, short, flipped or other-token receipt', () => {
      const key = bytes(v.key);
      const token = bytes(v.token);
      const flipped = bytes(v.receipt);
      flipped[31] = (flipped[31] ?? 0) ^ 1;
      const other = token.slice();
      other[32] = (other[32] ?? 0) ^ 1;
      expect(verifyRevokeReceipt(nodeBackend, key, token, undefined)).to.equal(false);
      expect(verifyRevokeReceipt(nodeBackend, key, token, bytes(v.receipt).slice(0, 31))).to.equal(
        false,
      );
      expect(verifyRevokeReceipt(nodeBackend, key, token, flipped)).to.equal(false);
      expect(verifyRevokeReceipt(nodeBackend, key, other, bytes(v.receipt))).to.equal(false);
      expect(
        verifyRevokeReceipt(nodeBackend, new Uint8Array(32), token, bytes(v.receipt)),
      ).to.equal(false);
    });
  });
});
