import { CoreError } from '../errors/core-error.js';
import type { CryptoBackend } from './crypto-backend.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const range = (from: number, to: number): Uint8Array =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** One known answer: what it checks, and whether the backend gave the published bytes. */
interface KnownAnswer {
  readonly name: string;
  readonly passes: (c: CryptoBackend) => boolean;
}

// The published vectors, one per primitive the protocol rests on (docs/security.md#t47).
const KNOWN_ANSWERS: readonly KnownAnswer[] = [
  {
    name: 'SHA-256 of "abc" (FIPS 180-2)',
    passes: (c) =>
      same(
        c.sha256(ascii('abc')),
        hex('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
      ),
  },
  {
    name: 'HMAC-SHA256 (RFC 4231 test case 2)',
    passes: (c) =>
      same(
        c.hmacSha256(ascii('Jefe'), ascii('what do ya want for nothing?')),
        hex('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'),
      ),
  },
  {
    name: 'HKDF-SHA256 (RFC 5869 A.1)',
    passes: (c) =>
      same(
        c.hkdfExpand(
          c.hkdfExtract(range(0x00, 0x0c), new Uint8Array(22).fill(0x0b)),
          range(0xf0, 0xf9),
          42,
        ),
        hex('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865'),
      ),
  },
  {
    name: 'Ed25519 sign and strict verify (RFC 8032 §7.1 test 1)',
    passes: (c) => {
      const sk = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
      const pk = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
      const sig = hex(
        'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
      );
      const empty = new Uint8Array(0);
      const flipped = sig.slice();
      flipped[0]! ^= 1;
      return (
        same(c.ed25519PublicKey(sk), pk) &&
        same(c.ed25519Sign(sk, empty), sig) &&
        c.ed25519Verify(sig, empty, pk) &&
        !c.ed25519Verify(flipped, empty, pk)
      );
    },
  },
  {
    name: 'X25519 (RFC 7748 §5.2)',
    passes: (c) =>
      same(
        c.x25519SharedSecret(
          hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
          hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
        ),
        hex('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'),
      ),
  },
  {
    name: 'ChaCha20-Poly1305 seal and open (RFC 8439 §2.8.2)',
    passes: (c) => {
      const key = range(0x80, 0x9f);
      const nonce = hex('070000004041424344454647');
      const aad = hex('50515253c0c1c2c3c4c5c6c7');
      const plaintext = ascii(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      );
      const sealed = hex(
        'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
          '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
          '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
          '3ff4def08e4b7a9de576d26586cec64b6116' +
          '1ae10b594f09e26a7e902ecbd0600691',
      );
      return (
        same(c.chacha20Poly1305Seal(key, nonce, plaintext, aad), sealed) &&
        same(c.chacha20Poly1305Open(key, nonce, sealed, aad), plaintext)
      );
    },
  },
];

/**
 * Checks `crypto` against published known answers for every primitive the protocol uses, and
 * throws `CoreError('ERR_SELF_TEST')` naming each one that failed. hostd runs it before it
 * serves, and the runtime before a node opens (docs/security.md#t47): a miscompiled or
 * swapped crypto library must stop the process, not sign wrong bytes. It also loads and warms
 * the crypto code, so the first handshake does not pay for that.
 */
export function cryptoSelfTest(crypto: CryptoBackend): void {
  const failed: string[] = [];
  for (const k of KNOWN_ANSWERS) {
    let ok = false;
    try {
      ok = k.passes(crypto);
    } catch {
      ok = false;
    }
    if (!ok) failed.push(k.name);
  }
  if (failed.length > 0) {
    throw new CoreError(
      'ERR_SELF_TEST',
      `the ${crypto.name} crypto backend failed its start-up self-test: ${failed.join('; ')}; do not run with this build`,
    );
  }
}
