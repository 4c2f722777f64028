// The two backends must be interchangeable: a VM on one and hostd on the other see the same
// bytes. Random inputs (fast-check, so a failure prints a replayable seed), then the CCTV
// vectors, where the two Ed25519 verifiers may differ only in the one documented way.
import { expect } from 'chai';
import fc from 'fast-check';
import { cctvEd25519Vectors, hex, thrownCode } from '../../test/fixtures/vectors/load-vectors.js';
import { bytesToHex, utf8ToBytes } from './bytes.js';
import { checkEd25519PublicKey } from './ed25519-public-key-check.js';
import { nobleBackend as noble } from './noble-backend.js';
import { nodeBackend as node } from './node-backend.js';

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const message = fc.uint8Array({ maxLength: 300 });

describe('CryptoBackend (noble vs node)', () => {
  describe('.ed25519Sign / .ed25519Verify', () => {
    it('should derive the same public key and signature, each verifying under the other', function () {
      this.timeout(60_000);
      fc.assert(
        fc.property(key32, message, (sk, msg) => {
          const pk = noble.ed25519PublicKey(sk);
          expect(bytesToHex(node.ed25519PublicKey(sk))).to.equal(bytesToHex(pk));
          const sigNoble = noble.ed25519Sign(sk, msg);
          const sigNode = node.ed25519Sign(sk, msg);
          expect(bytesToHex(sigNode)).to.equal(bytesToHex(sigNoble));
          expect(node.ed25519Verify(sigNoble, msg, pk)).to.equal(true);
          expect(noble.ed25519Verify(sigNode, msg, pk)).to.equal(true);
        }),
        { numRuns: 40 },
      );
    });

    it('should agree on rejecting signatures with a corrupted byte', function () {
      this.timeout(60_000);
      fc.assert(
        fc.property(
          key32,
          message,
          fc.nat({ max: 63 }),
          fc.integer({ min: 1, max: 255 }),
          (sk, msg, at, xor) => {
            const pk = node.ed25519PublicKey(sk);
            const sig = node.ed25519Sign(sk, msg);
            sig[at] = (sig[at] ?? 0) ^ xor;
            expect(node.ed25519Verify(sig, msg, pk)).to.equal(false);
            expect(noble.ed25519Verify(sig, msg, pk)).to.equal(false);
          },
        ),
        { numRuns: 40 },
      );
    });

    it('should agree on every CCTV vector except those where a small-order residue is cancelled only by the cofactor', function () {
      this.timeout(120_000);
      const disagreements: Array<{ number: number; flags: readonly string[] }> = [];
      for (const v of cctvEd25519Vectors()) {
        const args = [hex(v.sig), utf8ToBytes(v.msg), hex(v.key)] as const;
        const a = noble.ed25519Verify(...args);
        const b = node.ed25519Verify(...args);
        // node's accepted set is a subset of noble's.
        expect(b && !a, `vector ${v.number} accepted by node only`).to.equal(false);
        if (a !== b) disagreements.push({ number: v.number, flags: v.flags ?? [] });
      }
      expect(disagreements.length).to.equal(126);
      for (const d of disagreements) {
        expect(d.flags, `vector ${d.number}`).to.include('low_order_residue');
      }
    });

    it('should agree on every CCTV vector whose public key the CA would certify, unless R has a small-order component', function () {
      this.timeout(120_000);
      let certifiable = 0;
      for (const v of cctvEd25519Vectors()) {
        if (thrownCode(() => checkEd25519PublicKey(hex(v.key))) !== 'none') continue;
        certifiable++;
        const args = [hex(v.sig), utf8ToBytes(v.msg), hex(v.key)] as const;
        if ((v.flags ?? []).includes('low_order_component_R')) continue;
        expect(noble.ed25519Verify(...args), `vector ${v.number}`).to.equal(
          node.ed25519Verify(...args),
        );
      }
      expect(certifiable).to.be.greaterThan(0);
    });
  });

  describe('.hmacSha256 / .sha256', () => {
    it('should produce identical MACs and hashes for any key length and split of the message', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 200 }),
          message,
          fc.nat({ max: 300 }),
          (key, msg, cut) => {
            const parts = [msg.subarray(0, cut), msg.subarray(cut)];
            const mac = bytesToHex(noble.hmacSha256(key, ...parts));
            expect(bytesToHex(node.hmacSha256(key, ...parts))).to.equal(mac);
            expect(bytesToHex(node.hmacSha256(key, msg))).to.equal(mac);
            expect(bytesToHex(node.sha256(...parts))).to.equal(bytesToHex(noble.sha256(msg)));
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe('.hkdfExtract / .hkdfExpand', () => {
    it('should derive identical PRKs and OKMs for any salt, IKM, info and length', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 100 }),
          fc.uint8Array({ maxLength: 100 }),
          fc.uint8Array({ maxLength: 100 }),
          fc.nat({ max: 255 * 32 }),
          (salt, ikm, info, length) => {
            const prk = noble.hkdfExtract(salt, ikm);
            expect(bytesToHex(node.hkdfExtract(salt, ikm))).to.equal(bytesToHex(prk));
            expect(bytesToHex(node.hkdfExpand(prk, info, length))).to.equal(
              bytesToHex(noble.hkdfExpand(prk, info, length)),
            );
          },
        ),
        { numRuns: 100 },
      );
    });
  });

  describe('.x25519PublicKey / .x25519SharedSecret', () => {
    it('should derive identical public keys and shared secrets', function () {
      this.timeout(60_000);
      fc.assert(
        fc.property(key32, key32, (a, b) => {
          const pubA = noble.x25519PublicKey(a);
          const pubB = node.x25519PublicKey(b);
          expect(bytesToHex(node.x25519PublicKey(a))).to.equal(bytesToHex(pubA));
          expect(bytesToHex(noble.x25519PublicKey(b))).to.equal(bytesToHex(pubB));
          const ab = bytesToHex(noble.x25519SharedSecret(a, pubB));
          expect(bytesToHex(node.x25519SharedSecret(a, pubB))).to.equal(ab);
          expect(bytesToHex(node.x25519SharedSecret(b, pubA))).to.equal(ab);
          expect(bytesToHex(noble.x25519SharedSecret(b, pubA))).to.equal(ab);
        }),
        { numRuns: 40 },
      );
    });
  });

  describe('shared-memory inputs', () => {
    it('should take views of a SharedArrayBuffer in every operation and give identical results', () => {
      // The data plane hands the crypto layer subarrays of the mapped region.
      const shared = (bytes: Uint8Array): Uint8Array => {
        const view = new Uint8Array(new SharedArrayBuffer(bytes.length + 8), 4, bytes.length);
        view.set(bytes);
        return view;
      };
      const results = [noble, node].map((b) => {
        const key = shared(new Uint8Array(32).fill(1));
        const nonce = shared(new Uint8Array(12).fill(2));
        const data = shared(utf8ToBytes('SOME/IP payload in the ring'));
        const sealed = b.chacha20Poly1305Seal(key, nonce, data, data.subarray(0, 4));
        const sk = shared(new Uint8Array(32).fill(7));
        const sig = b.ed25519Sign(sk, data);
        return [
          bytesToHex(b.sha256(data)),
          bytesToHex(b.hmacSha256(key, data)),
          bytesToHex(b.hkdfExpand(b.hkdfExtract(key, data), nonce, 40)),
          bytesToHex(sealed),
          bytesToHex(b.chacha20Poly1305Open(key, nonce, shared(sealed), data.subarray(0, 4))),
          bytesToHex(sig),
          String(b.ed25519Verify(shared(sig), data, shared(b.ed25519PublicKey(sk)))),
          bytesToHex(b.x25519SharedSecret(sk, shared(b.x25519PublicKey(key)))),
        ];
      });
      expect(results[1]).to.deep.equal(results[0]);
      expect(results[0]?.[4]).to.equal(bytesToHex(utf8ToBytes('SOME/IP payload in the ring')));
      expect(results[0]?.[6]).to.equal('true');
    });
  });

  // The two AEADs of the interface, each sealed by one backend and opened by both.
  for (const [seal, open] of [
    ['chacha20Poly1305Seal', 'chacha20Poly1305Open'],
    ['aes256GcmSeal', 'aes256GcmOpen'],
  ] as const) {
    describe(`.${seal} / .${open}`, () => {
      it('should seal identically and open what the other sealed', () => {
        fc.assert(
          fc.property(
            key32,
            fc.uint8Array({ minLength: 12, maxLength: 12 }),
            fc.uint8Array({ maxLength: 1000 }),
            fc.uint8Array({ maxLength: 64 }),
            (key, nonce, plaintext, aad) => {
              const sealed = noble[seal](key, nonce, plaintext, aad);
              expect(bytesToHex(node[seal](key, nonce, plaintext, aad))).to.equal(
                bytesToHex(sealed),
              );
              expect(bytesToHex(node[open](key, nonce, sealed, aad))).to.equal(
                bytesToHex(plaintext),
              );
              expect(bytesToHex(noble[open](key, nonce, sealed, aad))).to.equal(
                bytesToHex(plaintext),
              );
            },
          ),
          { numRuns: 100 },
        );
      });
    });
  }
});
