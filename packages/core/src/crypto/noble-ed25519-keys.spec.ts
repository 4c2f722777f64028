// The noble backend's cached Ed25519 keys change speed, never a verdict or a signature: the
// table path is run against the library's strict verify on every Wycheproof and CCTV vector.
import { expect } from 'chai';
import * as ed from '@noble/ed25519';
import {
  cctvEd25519Vectors,
  hex,
  wycheproofCases,
  type EddsaCase,
  type EddsaGroup,
} from '../../test/fixtures/vectors/load-vectors.js';
import { utf8ToBytes } from './bytes.js';
import { nobleBackend } from './noble-backend.js';
import { keyTable, nobleSign, nobleVerify, verifyWithTable } from './noble-ed25519-keys.js';

const STRICT = { zip215: false } as const;

/** The library's strict verdict; it throws on malformed sizes where the backend says false. */
function libraryVerdict(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean {
  try {
    return ed.verify(sig, msg, pk, STRICT);
  } catch {
    return false;
  }
}

/** How many vectors the table path judged as the library does, and the ones it did not. */
function compare(vectors: Array<{ id: string; sig: Uint8Array; msg: Uint8Array; pk: Uint8Array }>) {
  let compared = 0;
  const differ: string[] = [];
  const tables = new Map<string, ReturnType<typeof keyTable>>();
  for (const v of vectors) {
    if (v.sig.length !== 64 || v.pk.length !== 32) continue;
    const key = Buffer.from(v.pk).toString('hex');
    if (!tables.has(key)) tables.set(key, keyTable(v.pk));
    const A = tables.get(key);
    if (A === undefined) {
      // No table for a key the library refuses outright: such a key never reaches the table path.
      expect(libraryVerdict(v.sig, v.msg, v.pk), v.id).to.equal(false);
      continue;
    }
    compared++;
    if (verifyWithTable(A, v.sig, v.msg, v.pk) !== libraryVerdict(v.sig, v.msg, v.pk))
      differ.push(v.id);
  }
  return { compared, differ };
}

describe('noble Ed25519 with cached keys', () => {
  it('should judge every Wycheproof Ed25519 case as the library does', function () {
    this.timeout(120_000);
    const { cases } = wycheproofCases<EddsaGroup, EddsaCase>('ed25519_test.json');
    const { compared, differ } = compare(
      cases.map(({ group, test }) => ({
        id: `tcId ${test.tcId}`,
        sig: hex(test.sig),
        msg: hex(test.msg),
        pk: hex(group.publicKey.pk),
      })),
    );
    expect(differ).to.deep.equal([]);
    expect(compared).to.be.greaterThan(100);
  });

  it('should judge every C2SP CCTV vector as the library does (cofactored, strict R and A)', function () {
    this.timeout(300_000);
    const { compared, differ } = compare(
      cctvEd25519Vectors().map((v, i) => ({
        id: `cctv ${i}`,
        sig: hex(v.sig),
        msg: utf8ToBytes(v.msg),
        pk: hex(v.key),
      })),
    );
    expect(differ).to.deep.equal([]);
    expect(compared).to.be.greaterThan(100);
  });

  it('should sign byte for byte as the library does, before and after the key is cached', () => {
    for (let k = 0; k < 4; k++) {
      const sk = nobleBackend.randomBytes(32);
      for (const length of [0, 1, 50, 200]) {
        const msg = nobleBackend.randomBytes(length);
        expect(nobleSign(sk, msg)).to.deep.equal(ed.sign(msg, sk));
        expect(nobleSign(sk, msg)).to.deep.equal(ed.sign(msg, sk));
      }
    }
  });

  it('should notice a secret key overwritten in place', () => {
    const sk = nobleBackend.randomBytes(32);
    const msg = utf8ToBytes('M5');
    nobleSign(sk, msg);
    sk.fill(0x42);
    expect(nobleSign(sk, msg)).to.deep.equal(ed.sign(msg, sk));
  });

  it('should keep refusing flipped bits once the key has a table', () => {
    const sk = nobleBackend.randomBytes(32);
    const pk = nobleBackend.ed25519PublicKey(sk);
    const msg = utf8ToBytes('sivshm v1 H-offer transcript');
    const sig = nobleSign(sk, msg);
    for (let i = 0; i < 20; i++) expect(nobleVerify(sig, msg, pk), `use ${i}`).to.equal(true);
    for (const bit of [0, 7, 255, 256, 400, 511]) {
      const s = sig.slice();
      s[bit >> 3]! ^= 1 << (bit & 7);
      expect(nobleVerify(s, msg, pk), `signature bit ${bit}`).to.equal(false);
    }
    const m = msg.slice();
    m[3]! ^= 1;
    expect(nobleVerify(sig, m, pk)).to.equal(false);
    expect(
      nobleVerify(sig, msg, nobleBackend.ed25519PublicKey(nobleBackend.randomBytes(32))),
    ).to.equal(false);
  });
});
