// One contract suite, run against every CryptoBackend: RFC known-answer tests typed in from
// the RFC text, then the full Wycheproof and C2SP CCTV files. Each file-driven test counts the
// cases that behave as the file says and asserts the count equals the file's total, listing
// the tcIds that did not.
import { expect } from 'chai';
import {
  cctvEd25519Vectors,
  hex,
  thrownCode,
  wycheproofCases,
} from '../../test/fixtures/vectors/load-vectors.js';
import type {
  AeadCase,
  AeadGroup,
  EddsaCase,
  EddsaGroup,
  HkdfCase,
  MacCase,
  MacGroup,
  XdhCase,
} from '../../test/fixtures/vectors/load-vectors.js';
import { bytesToHex, utf8ToBytes } from './bytes.js';
import type { CryptoBackend, CryptoBackendName } from './crypto-backend.js';
import { nobleBackend } from './noble-backend.js';
import { nodeBackend } from './node-backend.js';

/**
 * C2SP CCTV ed25519vectors.json: how many of the 914 vectors each backend accepts, measured
 * and pinned. Both apply strict decoding (canonical R, A and S) and refuse small-order A.
 * noble then checks the cofactored equation [8][S]B = [8]R + [8][k]A and accepts 212;
 * OpenSSL checks the cofactorless [S]B = R + [k]A (by comparing encodings) and, with the
 * pre-checks, accepts 86, all of them among noble's 212. The 126 in between are exactly the
 * vectors flagged `low_order_residue`: R or A carries a small-order component that only the
 * cofactor multiplication cancels. RFC 8032 §5.1.7 allows either equation. (OpenSSL without the
 * pre-checks accepts 208, including 122 with a small-order A and 36 with a non-canonical A.)
 */
const CCTV_ACCEPTED: Record<CryptoBackendName, number> = { noble: 212, node: 86 };

const BACKENDS: readonly CryptoBackend[] = [nobleBackend, nodeBackend];

function ascii(text: string): Uint8Array {
  return utf8ToBytes(text);
}

function repeat(byte: number, length: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

function range(from: number, to: number): Uint8Array {
  return Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// RFC 8032 §7.1, TEST 1–3.
const RFC8032 = [
  {
    name: 'TEST 1',
    secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    secretKey: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

// RFC 4231 §4.2–4.8, HMAC-SHA-256 lines (case 5 truncated to 128 bits by the RFC).
const RFC4231 = [
  {
    name: 'Test Case 1',
    key: repeat(0x0b, 20),
    data: ascii('Hi There'),
    mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  },
  {
    name: 'Test Case 2',
    key: ascii('Jefe'),
    data: ascii('what do ya want for nothing?'),
    mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  },
  {
    name: 'Test Case 3',
    key: repeat(0xaa, 20),
    data: repeat(0xdd, 50),
    mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
  },
  {
    name: 'Test Case 4',
    key: range(0x01, 0x19),
    data: repeat(0xcd, 50),
    mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
  },
  {
    name: 'Test Case 5',
    key: repeat(0x0c, 20),
    data: ascii('Test With Truncation'),
    mac: 'a3b6167473100ee06e0c796c2955552b',
  },
  {
    name: 'Test Case 6',
    key: repeat(0xaa, 131),
    data: ascii('Test Using Larger Than Block-Size Key - Hash Key First'),
    mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  },
  {
    name: 'Test Case 7',
    key: repeat(0xaa, 131),
    data: ascii(
      'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
    ),
    mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

// RFC 5869 Appendix A.1–A.3 (SHA-256).
const RFC5869 = [
  {
    name: 'A.1',
    ikm: repeat(0x0b, 22),
    salt: range(0x00, 0x0c),
    info: range(0xf0, 0xf9),
    length: 42,
    prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2',
    ikm: range(0x00, 0x4f),
    salt: range(0x60, 0xaf),
    info: range(0xb0, 0xff),
    length: 82,
    prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
    okm:
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c' +
      '59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71' +
      'cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3',
    ikm: repeat(0x0b, 22),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

// RFC 7748 §5.2 (two single scalar multiplications; the second u has its top bit set, which
// must be masked) and §6.1 (the Diffie-Hellman example).
const RFC7748_SCALAR_MULT = [
  {
    name: '§5.2 vector 1',
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    name: '§5.2 vector 2',
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];
const RFC7748_DH = {
  alicePrivate: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePublic: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPrivate: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPublic: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
};

// RFC 8439 §2.8.2.
const RFC8439 = {
  key: range(0x80, 0x9f),
  nonce: hex('070000004041424344454647'),
  aad: hex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: ascii(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  ciphertext:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
    '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
    '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};

/** Runs `check` on every case; returns the tcIds (with a reason) that did not behave. */
function failures<T>(cases: readonly T[], id: (c: T) => number, check: (c: T) => string): string[] {
  const out: string[] = [];
  for (const c of cases) {
    const problem = check(c);
    if (problem !== '') out.push(`tcId ${id(c)}: ${problem}`);
  }
  return out;
}

for (const backend of BACKENDS) {
  describe(`CryptoBackend (${backend.name})`, () => {
    describe('.randomBytes', () => {
      it('should return fresh arrays of the requested length, including 0 and > 64 KiB', () => {
        expect(backend.randomBytes(0).length).to.equal(0);
        const a = backend.randomBytes(32);
        const b = backend.randomBytes(32);
        expect(a.length).to.equal(32);
        expect(bytesToHex(a)).not.to.equal(bytesToHex(b));
        const big = backend.randomBytes(100_000);
        expect(big.length).to.equal(100_000);
        // Chunked filling must reach the tail: 4 KiB of zeros by chance is impossible.
        expect(big.subarray(96_000).some((x) => x !== 0)).to.equal(true);
      });

      it('should throw ERR_CRYPTO_INPUT for a negative, fractional or huge length', () => {
        expect(thrownCode(() => backend.randomBytes(-1))).to.equal('ERR_CRYPTO_INPUT');
        expect(thrownCode(() => backend.randomBytes(1.5))).to.equal('ERR_CRYPTO_INPUT');
        expect(thrownCode(() => backend.randomBytes(2 ** 30))).to.equal('ERR_CRYPTO_INPUT');
      });
    });

    describe('.sha256', () => {
      it('should match FIPS 180-2 examples and hash parts as their concatenation', () => {
        expect(bytesToHex(backend.sha256())).to.equal(
          'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        );
        expect(bytesToHex(backend.sha256(ascii('abc')))).to.equal(
          'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
        );
        expect(bytesToHex(backend.sha256(ascii('a'), new Uint8Array(0), ascii('bc')))).to.equal(
          'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
        );
      });

      it('should return a plain Uint8Array', () => {
        expect(Object.getPrototypeOf(backend.sha256(ascii('x')))).to.equal(Uint8Array.prototype);
      });

      it('should throw ERR_CRYPTO_INPUT for a part that is not a Uint8Array', () => {
        const bad = 'abc' as unknown as Uint8Array;
        expect(thrownCode(() => backend.sha256(bad))).to.equal('ERR_CRYPTO_INPUT');
      });
    });

    describe('.hmacSha256', () => {
      for (const tc of RFC4231) {
        it(`should match RFC 4231 ${tc.name}`, () => {
          const mac = backend.hmacSha256(tc.key, tc.data);
          expect(bytesToHex(mac.subarray(0, tc.mac.length / 2))).to.equal(tc.mac);
        });
      }

      it('should MAC parts as their concatenation', () => {
        const key = repeat(7, 32);
        expect(backend.hmacSha256(key, ascii('Hi '), ascii('There'))).to.deep.equal(
          backend.hmacSha256(key, ascii('Hi There')),
        );
      });

      it('should pass Wycheproof hmac_sha256_test.json 174/174, truncated tags by prefix', () => {
        const { numberOfTests, cases } = wycheproofCases<MacGroup, MacCase>(
          'hmac_sha256_test.json',
        );
        expect(numberOfTests).to.equal(174);
        expect(cases.length).to.equal(174);
        const bad = failures(
          cases,
          (c) => c.test.tcId,
          ({ group, test }) => {
            const mac = backend.hmacSha256(hex(test.key), hex(test.msg));
            const prefix = bytesToHex(mac.subarray(0, group.tagSize / 8));
            const matches = prefix === test.tag;
            return matches === (test.result === 'valid') ? '' : `match=${matches}`;
          },
        );
        expect(bad).to.deep.equal([]);
      });

      it('should accept an empty key (RFC 2104 pads it with zeros)', () => {
        expect(backend.hmacSha256(new Uint8Array(0), ascii('m'))).to.deep.equal(
          backend.hmacSha256(new Uint8Array(64), ascii('m')),
        );
      });

      it('should throw ERR_CRYPTO_INPUT for a key that is not a Uint8Array', () => {
        const bad = null as unknown as Uint8Array;
        expect(thrownCode(() => backend.hmacSha256(bad, ascii('m')))).to.equal('ERR_CRYPTO_INPUT');
      });
    });

    describe('.hkdfExtract / .hkdfExpand', () => {
      for (const tc of RFC5869) {
        it(`should match RFC 5869 ${tc.name} PRK and OKM`, () => {
          const prk = backend.hkdfExtract(tc.salt, tc.ikm);
          expect(bytesToHex(prk)).to.equal(tc.prk);
          expect(bytesToHex(backend.hkdfExpand(prk, tc.info, tc.length))).to.equal(tc.okm);
        });
      }

      it('should pass Wycheproof hkdf_sha256_test.json 86/86, too-large sizes throwing', () => {
        const { numberOfTests, cases } = wycheproofCases<unknown, HkdfCase>(
          'hkdf_sha256_test.json',
        );
        expect(numberOfTests).to.equal(86);
        expect(cases.length).to.equal(86);
        let refused = 0;
        const bad = failures(
          cases,
          (c) => c.test.tcId,
          ({ test }) => {
            const prk = backend.hkdfExtract(hex(test.salt), hex(test.ikm));
            if (test.result === 'valid') {
              const okm = bytesToHex(backend.hkdfExpand(prk, hex(test.info), test.size));
              return okm === test.okm ? '' : 'okm differs';
            }
            const code = thrownCode(() => backend.hkdfExpand(prk, hex(test.info), test.size));
            if (code === 'ERR_CRYPTO_INPUT') refused++;
            return code === 'ERR_CRYPTO_INPUT' ? '' : `size ${test.size}: ${code}`;
          },
        );
        expect(bad).to.deep.equal([]);
        expect(refused).to.equal(3);
      });

      it('should return an empty OKM for length 0 and allow exactly 255 blocks', () => {
        const prk = repeat(1, 32);
        expect(backend.hkdfExpand(prk, new Uint8Array(0), 0).length).to.equal(0);
        expect(backend.hkdfExpand(prk, new Uint8Array(0), 255 * 32).length).to.equal(8160);
        expect(thrownCode(() => backend.hkdfExpand(prk, new Uint8Array(0), 8161))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
      });

      it('should throw ERR_CRYPTO_INPUT for a PRK shorter than 32 bytes (RFC 5869 §2.3)', () => {
        expect(thrownCode(() => backend.hkdfExpand(repeat(1, 31), new Uint8Array(0), 32))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
      });
    });

    describe('.ed25519PublicKey / .ed25519Sign / .ed25519Verify', () => {
      for (const tc of RFC8032) {
        it(`should reproduce RFC 8032 §7.1 ${tc.name}`, () => {
          const sk = hex(tc.secretKey);
          const msg = hex(tc.message);
          expect(bytesToHex(backend.ed25519PublicKey(sk))).to.equal(tc.publicKey);
          expect(bytesToHex(backend.ed25519Sign(sk, msg))).to.equal(tc.signature);
          expect(backend.ed25519Verify(hex(tc.signature), msg, hex(tc.publicKey))).to.equal(true);
        });
      }

      it('should pass Wycheproof ed25519_test.json 151/151', function () {
        this.timeout(60_000);
        const { numberOfTests, cases } = wycheproofCases<EddsaGroup, EddsaCase>(
          'ed25519_test.json',
        );
        expect(numberOfTests).to.equal(151);
        expect(cases.length).to.equal(151);
        const bad = failures(
          cases,
          (c) => c.test.tcId,
          ({ group, test }) => {
            const ok = backend.ed25519Verify(hex(test.sig), hex(test.msg), hex(group.publicKey.pk));
            return ok === (test.result === 'valid') ? '' : `accepted=${ok} (${test.comment})`;
          },
        );
        expect(bad).to.deep.equal([]);
      });

      it('should reject Wycheproof tcId 151 (non-canonical R) and all SignatureMalleability cases', function () {
        this.timeout(30_000);
        const { cases } = wycheproofCases<EddsaGroup, EddsaCase>('ed25519_test.json');
        const picked = cases.filter(
          ({ test }) => test.tcId === 151 || test.flags.includes('SignatureMalleability'),
        );
        expect(picked.length).to.equal(9);
        for (const { group, test } of picked) {
          expect(test.result, `tcId ${test.tcId}`).to.equal('invalid');
          const ok = backend.ed25519Verify(hex(test.sig), hex(test.msg), hex(group.publicKey.pk));
          expect(ok, `tcId ${test.tcId}`).to.equal(false);
        }
      });

      it(`should accept exactly ${CCTV_ACCEPTED[backend.name]} of the 914 C2SP CCTV vectors`, function () {
        this.timeout(120_000);
        const vectors = cctvEd25519Vectors();
        expect(vectors.length).to.equal(914);
        const accepted = vectors.filter((v) =>
          backend.ed25519Verify(hex(v.sig), utf8ToBytes(v.msg), hex(v.key)),
        );
        expect(accepted.length).to.equal(CCTV_ACCEPTED[backend.name]);
        const flagged = (flag: string): number =>
          accepted.filter((v) => (v.flags ?? []).includes(flag)).length;
        // Strictness that both backends promise, whatever the equation.
        expect(flagged('low_order_A'), 'small-order public keys').to.equal(0);
        expect(flagged('non_canonical_A'), 'non-canonical public keys').to.equal(0);
        expect(flagged('non_canonical_R'), 'non-canonical R').to.equal(0);
      });

      it('should verify its own signatures and reject any flipped bit of signature or message', () => {
        const sk = backend.ed25519GenerateSecretKey();
        const pk = backend.ed25519PublicKey(sk);
        const msg = ascii('M1 REQUEST transcript');
        const sig = backend.ed25519Sign(sk, msg);
        expect(backend.ed25519Verify(sig, msg, pk)).to.equal(true);
        for (const bit of [0, 7, 255, 256, 400, 511]) {
          const s = sig.slice();
          s[bit >> 3] = (s[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          expect(backend.ed25519Verify(s, msg, pk), `signature bit ${bit}`).to.equal(false);
        }
        const m = msg.slice();
        m[0] = (m[0] ?? 0) ^ 1;
        expect(backend.ed25519Verify(sig, m, pk)).to.equal(false);
      });

      it('should return false, never throw, for malformed sizes and types', () => {
        const sk = hex(RFC8032[0]?.secretKey ?? '');
        const pk = backend.ed25519PublicKey(sk);
        const sig = backend.ed25519Sign(sk, new Uint8Array(0));
        const none = new Uint8Array(0);
        expect(backend.ed25519Verify(sig.subarray(0, 63), none, pk)).to.equal(false);
        expect(backend.ed25519Verify(new Uint8Array(65), none, pk)).to.equal(false);
        expect(backend.ed25519Verify(sig, none, pk.subarray(0, 31))).to.equal(false);
        expect(backend.ed25519Verify(sig, none, new Uint8Array(32))).to.equal(false);
        const notBytes = 'x' as unknown as Uint8Array;
        expect(backend.ed25519Verify(notBytes, none, pk)).to.equal(false);
        expect(backend.ed25519Verify(sig, notBytes, pk)).to.equal(false);
        expect(backend.ed25519Verify(sig, none, notBytes)).to.equal(false);
      });

      it('should generate distinct 32-byte secret keys', () => {
        const a = backend.ed25519GenerateSecretKey();
        const b = backend.ed25519GenerateSecretKey();
        expect(a.length).to.equal(32);
        expect(bytesToHex(a)).not.to.equal(bytesToHex(b));
      });

      it('should throw ERR_CRYPTO_INPUT for a secret key that is not 32 bytes', () => {
        expect(thrownCode(() => backend.ed25519Sign(new Uint8Array(31), ascii('m')))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
        expect(thrownCode(() => backend.ed25519Sign(new Uint8Array(64), ascii('m')))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
        expect(thrownCode(() => backend.ed25519PublicKey(new Uint8Array(33)))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
      });

      it('should notice a secret key array overwritten in place (no stale cached key)', () => {
        const sk = hex(RFC8032[0]?.secretKey ?? '');
        expect(bytesToHex(backend.ed25519PublicKey(sk))).to.equal(RFC8032[0]?.publicKey);
        sk.set(hex(RFC8032[1]?.secretKey ?? ''));
        expect(bytesToHex(backend.ed25519PublicKey(sk))).to.equal(RFC8032[1]?.publicKey);
        expect(bytesToHex(backend.ed25519Sign(sk, hex('72')))).to.equal(RFC8032[1]?.signature);
      });

      it('should hand out public keys the caller may modify without affecting later calls', () => {
        const sk = hex(RFC8032[2]?.secretKey ?? '');
        backend.ed25519PublicKey(sk).fill(0);
        expect(bytesToHex(backend.ed25519PublicKey(sk))).to.equal(RFC8032[2]?.publicKey);
      });
    });

    describe('.x25519PublicKey / .x25519SharedSecret', () => {
      for (const tc of RFC7748_SCALAR_MULT) {
        it(`should match RFC 7748 ${tc.name}`, () => {
          const out = backend.x25519SharedSecret(hex(tc.scalar), hex(tc.u));
          expect(bytesToHex(out)).to.equal(tc.out);
        });
      }

      it('should reproduce the RFC 7748 §6.1 key pairs and shared secret', () => {
        const d = RFC7748_DH;
        expect(bytesToHex(backend.x25519PublicKey(hex(d.alicePrivate)))).to.equal(d.alicePublic);
        expect(bytesToHex(backend.x25519PublicKey(hex(d.bobPrivate)))).to.equal(d.bobPublic);
        const ab = backend.x25519SharedSecret(hex(d.alicePrivate), hex(d.bobPublic));
        const ba = backend.x25519SharedSecret(hex(d.bobPrivate), hex(d.alicePublic));
        expect(bytesToHex(ab)).to.equal(d.shared);
        expect(bytesToHex(ba)).to.equal(d.shared);
      });

      it('should pass Wycheproof x25519_test.json: every valid and acceptable shared secret matches, every ZeroSharedSecret case throws', function () {
        this.timeout(60_000);
        const { numberOfTests, cases } = wycheproofCases<unknown, XdhCase>('x25519_test.json');
        expect(numberOfTests).to.equal(518);
        expect(cases.length).to.equal(518);
        let zero = 0;
        let matched = 0;
        const bad = failures(
          cases,
          (c) => c.test.tcId,
          ({ test }) => {
            const run = (): Uint8Array =>
              backend.x25519SharedSecret(hex(test.private), hex(test.public));
            if (test.flags.includes('ZeroSharedSecret')) {
              const code = thrownCode(run);
              if (code === 'ERR_ZERO_SHARED_SECRET') zero++;
              return code === 'ERR_ZERO_SHARED_SECRET' ? '' : `zero case: ${code}`;
            }
            const shared = bytesToHex(run());
            if (shared === test.shared) matched++;
            return shared === test.shared ? '' : `${test.result} case: shared differs`;
          },
        );
        expect(bad).to.deep.equal([]);
        expect(zero).to.equal(31);
        expect(matched).to.equal(518 - 31);
      });

      it('should agree on the shared secret from both sides', () => {
        const a = backend.x25519GenerateSecretKey();
        const b = backend.x25519GenerateSecretKey();
        const ab = backend.x25519SharedSecret(a, backend.x25519PublicKey(b));
        const ba = backend.x25519SharedSecret(b, backend.x25519PublicKey(a));
        expect(ab.length).to.equal(32);
        expect(bytesToHex(ab)).to.equal(bytesToHex(ba));
      });

      it('should throw ERR_CRYPTO_INPUT for keys that are not 32 bytes', () => {
        const k = backend.x25519GenerateSecretKey();
        expect(thrownCode(() => backend.x25519SharedSecret(k, new Uint8Array(31)))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
        expect(thrownCode(() => backend.x25519SharedSecret(new Uint8Array(33), k))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
        expect(thrownCode(() => backend.x25519PublicKey(new Uint8Array(0)))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
      });
    });

    describe('.chacha20Poly1305Seal / .chacha20Poly1305Open', () => {
      it('should reproduce RFC 8439 §2.8.2 and open it again', () => {
        const { key, nonce, aad, plaintext } = RFC8439;
        const sealed = backend.chacha20Poly1305Seal(key, nonce, plaintext, aad);
        expect(bytesToHex(sealed)).to.equal(RFC8439.ciphertext + RFC8439.tag);
        expect(backend.chacha20Poly1305Open(key, nonce, sealed, aad)).to.deep.equal(plaintext);
      });

      it('should pass Wycheproof chacha20_poly1305_test.json 325/325', function () {
        this.timeout(30_000);
        const { numberOfTests, cases } = wycheproofCases<AeadGroup, AeadCase>(
          'chacha20_poly1305_test.json',
        );
        expect(numberOfTests).to.equal(325);
        expect(cases.length).to.equal(325);
        const bad = failures(
          cases,
          (c) => c.test.tcId,
          ({ test }) => {
            const [key, iv, aad, msg] = [hex(test.key), hex(test.iv), hex(test.aad), hex(test.msg)];
            const sealed = hex(test.ct + test.tag);
            if (test.result === 'valid') {
              const seal = bytesToHex(backend.chacha20Poly1305Seal(key, iv, msg, aad));
              if (seal !== test.ct + test.tag) return 'seal differs';
              const open = bytesToHex(backend.chacha20Poly1305Open(key, iv, sealed, aad));
              return open === test.msg ? '' : 'open differs';
            }
            if (test.flags.includes('InvalidNonceSize')) {
              const s = thrownCode(() => backend.chacha20Poly1305Seal(key, iv, msg, aad));
              const o = thrownCode(() => backend.chacha20Poly1305Open(key, iv, sealed, aad));
              const ok = s === 'ERR_CRYPTO_INPUT' && o === 'ERR_CRYPTO_INPUT';
              return ok ? '' : `nonce ${iv.length} B: seal ${s}, open ${o}`;
            }
            const o = thrownCode(() => backend.chacha20Poly1305Open(key, iv, sealed, aad));
            return o === 'ERR_CRYPTO_VERIFY' ? '' : `invalid open: ${o}`;
          },
        );
        expect(bad).to.deep.equal([]);
      });

      it('should throw ERR_CRYPTO_VERIFY for tampered ciphertext, tag or AAD, and for input shorter than a tag', () => {
        const { key, nonce, aad, plaintext } = RFC8439;
        const sealed = backend.chacha20Poly1305Seal(key, nonce, plaintext, aad);
        for (const at of [0, sealed.length - 17, sealed.length - 1]) {
          const t = sealed.slice();
          t[at] = (t[at] ?? 0) ^ 0x80;
          expect(thrownCode(() => backend.chacha20Poly1305Open(key, nonce, t, aad))).to.equal(
            'ERR_CRYPTO_VERIFY',
          );
        }
        expect(
          thrownCode(() => backend.chacha20Poly1305Open(key, nonce, sealed, ascii('x'))),
        ).to.equal('ERR_CRYPTO_VERIFY');
        expect(
          thrownCode(() => backend.chacha20Poly1305Open(key, nonce, sealed.subarray(0, 15), aad)),
        ).to.equal('ERR_CRYPTO_VERIFY');
      });

      it('should seal and open an empty plaintext (tag only)', () => {
        const key = repeat(3, 32);
        const nonce = repeat(4, 12);
        const sealed = backend.chacha20Poly1305Seal(key, nonce, new Uint8Array(0), ascii('hdr'));
        expect(sealed.length).to.equal(16);
        expect(backend.chacha20Poly1305Open(key, nonce, sealed, ascii('hdr')).length).to.equal(0);
      });

      it('should throw ERR_CRYPTO_INPUT for a key that is not 32 bytes', () => {
        const nonce = repeat(0, 12);
        expect(
          thrownCode(() =>
            backend.chacha20Poly1305Seal(repeat(1, 16), nonce, ascii('m'), new Uint8Array(0)),
          ),
        ).to.equal('ERR_CRYPTO_INPUT');
        expect(
          thrownCode(() =>
            backend.chacha20Poly1305Open(repeat(1, 33), nonce, repeat(0, 16), new Uint8Array(0)),
          ),
        ).to.equal('ERR_CRYPTO_INPUT');
      });
    });

    describe('.aes256GcmSeal / .aes256GcmOpen', () => {
      // The GCM specification's test case 16 (256-bit key, 96-bit IV, AAD, 60-byte plaintext).
      const GCM16 = {
        key: hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'),
        nonce: hex('cafebabefacedbaddecaf888'),
        aad: hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'),
        plaintext: hex(
          'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
        ),
        sealed:
          '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
          '76fc6ece0f4e1768cddf8853bb2d551b',
      };

      it('should reproduce GCM test case 16 and open it again', () => {
        const { key, nonce, aad, plaintext } = GCM16;
        const sealed = backend.aes256GcmSeal(key, nonce, plaintext, aad);
        expect(bytesToHex(sealed)).to.equal(GCM16.sealed);
        expect(backend.aes256GcmOpen(key, nonce, sealed, aad)).to.deep.equal(plaintext);
      });

      it('should throw ERR_CRYPTO_VERIFY for tampered ciphertext, tag or AAD, and for input shorter than a tag', () => {
        const { key, nonce, aad, plaintext } = GCM16;
        const sealed = backend.aes256GcmSeal(key, nonce, plaintext, aad);
        for (const at of [0, sealed.length - 17, sealed.length - 1]) {
          const t = sealed.slice();
          t[at] = (t[at] ?? 0) ^ 0x80;
          expect(thrownCode(() => backend.aes256GcmOpen(key, nonce, t, aad))).to.equal(
            'ERR_CRYPTO_VERIFY',
          );
        }
        expect(thrownCode(() => backend.aes256GcmOpen(key, nonce, sealed, ascii('x')))).to.equal(
          'ERR_CRYPTO_VERIFY',
        );
        expect(
          thrownCode(() => backend.aes256GcmOpen(key, nonce, sealed.subarray(0, 15), aad)),
        ).to.equal('ERR_CRYPTO_VERIFY');
      });

      it('should give a tag only for an empty plaintext (GMAC), and refuse keys and nonces of the wrong size', () => {
        const key = repeat(3, 32);
        const nonce = repeat(4, 12);
        const tag = backend.aes256GcmSeal(key, nonce, new Uint8Array(0), ascii('hdr'));
        expect(tag.length).to.equal(16);
        expect(backend.aes256GcmOpen(key, nonce, tag, ascii('hdr')).length).to.equal(0);
        const m = ascii('m');
        expect(thrownCode(() => backend.aes256GcmSeal(repeat(1, 16), nonce, m, m))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
        expect(thrownCode(() => backend.aes256GcmSeal(key, repeat(1, 16), m, m))).to.equal(
          'ERR_CRYPTO_INPUT',
        );
      });
    });
  });
}
