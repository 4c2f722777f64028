// Threats 10–17 of docs/security.md: certificates, keys and enrolment.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { CoreError } from '../errors/core-error.js';
import { encodeProto } from '../wire/proto-codec.js';
import { packageRoot } from '../util/package-root.js';
import { CertificateAuthority } from './certificate-authority.js';
import {
  certificateSigningInput,
  decodeCertificate,
  encodeCertificate,
  keyId,
  verifyCertificate,
  type Certificate,
} from './certificate.js';
import { createCsr } from './csr.js';
import { MAX_RIGHTS_PER_LIST, type Rights } from './rights.js';

const crypto = nodeBackend;
const T0 = 1_700_000_000_000n;
const allowed: Rights = {
  offers: [{ service: 0x1234, instanceLo: 1, instanceHi: 4 }],
  requests: [{ service: 0x5678, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0x7fff }],
};

function setup(now = { t: T0 }) {
  const caSecretKey = new Uint8Array(32).fill(1);
  const brokerSecretKey = new Uint8Array(32).fill(2);
  const ca = new CertificateAuthority({
    crypto,
    keys: { caSecretKey, brokerSecretKey },
    epoch: 3n,
    nowMs: () => now.t,
    allowedRights: (vm) => (vm === 2 ? allowed : undefined),
  });
  const sk = new Uint8Array(32).fill(9);
  const cert = ca.issue({
    vmId: 2,
    subject: 'cluster',
    publicKey: crypto.ed25519PublicKey(sk),
    rights: allowed,
    kind: 'endpoint',
  });
  const check = (over: Partial<Parameters<typeof verifyCertificate>[2]> = {}) => ({
    caPublicKey: ca.caPublicKey,
    epoch: 3n,
    nowMs: now.t,
    isRevoked: (s: bigint) => ca.isRevoked(s),
    kind: 'endpoint' as const,
    ...over,
  });
  return { ca, cert, sk, now, check, caSecretKey, brokerSecretKey };
}

/** Re-signs arbitrary tbs bytes with the CA key, so only the structural checks can refuse. */
function resign(caSecretKey: Uint8Array, tbs: Uint8Array): Certificate {
  return { tbs, sig: crypto.ed25519Sign(caSecretKey, certificateSigningInput(tbs)) };
}

describe('certificates', () => {
  describe('.verifyCertificate', () => {
    it('should accept a fresh certificate on both backends', () => {
      const { cert, check } = setup();
      expect(verifyCertificate(crypto, cert, check()).subject).to.equal('cluster');
      expect(verifyCertificate(nobleBackend, cert, check()).vmId).to.equal(2);
    });

    it('case 10: should reject every single-bit flip of the signed bytes and the signature', () => {
      const { cert, check } = setup();
      let flips = 0;
      for (const part of ['tbs', 'sig'] as const) {
        for (let i = 0; i < cert[part].length * 8; i++) {
          const copy = cert[part].slice();
          copy[i >> 3] = (copy[i >> 3] ?? 0) ^ (1 << (i & 7));
          expect(
            () => verifyCertificate(crypto, { ...cert, [part]: copy }, check()),
            `${part} bit ${i}`,
          ).to.throw(CoreError);
          flips++;
        }
      }
      expect(flips).to.equal((cert.tbs.length + 64) * 8);
    });

    it('case 11: should reject a certificate signed by another CA key or by the broker key', () => {
      const { cert, check, brokerSecretKey } = setup();
      const other = resign(new Uint8Array(32).fill(0x33), cert.tbs);
      expect(() => verifyCertificate(crypto, other, check())).to.throw(
        /does not verify under the CA key/,
      );
      const byBroker = resign(brokerSecretKey, cert.tbs);
      expect(() => verifyCertificate(crypto, byBroker, check())).to.throw(
        /does not verify under the CA key/,
      );
    });

    it('case 12: should reject expired, not-yet-valid and wrong-epoch certificates at ±1 s', () => {
      const { cert, check } = setup();
      const hours12 = 12n * 3600n * 1000n;
      expect(() =>
        verifyCertificate(crypto, cert, check({ nowMs: T0 + hours12 - 1000n })),
      ).to.not.throw();
      expect(() => verifyCertificate(crypto, cert, check({ nowMs: T0 + hours12 + 1000n })))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CERT_EXPIRED');
      expect(() => verifyCertificate(crypto, cert, check({ nowMs: T0 - 1000n })))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CERT_EXPIRED');
      expect(() => verifyCertificate(crypto, cert, check({ epoch: 4n })))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CERT_EPOCH');
    });

    it('case 13: should reject a revoked serial', () => {
      const { ca, cert, check } = setup();
      ca.revoke(decodeCertBody(cert).serial);
      expect(() => verifyCertificate(crypto, cert, check()))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CERT_REVOKED');
    });

    it('should refuse an endpoint certificate where the broker certificate is expected', () => {
      const { ca, cert, check } = setup();
      expect(() => verifyCertificate(crypto, cert, check({ kind: 'broker' }))).to.throw(
        /endpoint certificate/,
      );
      expect(
        verifyCertificate(crypto, ca.brokerCertificate, check({ kind: 'broker' })).kind,
      ).to.equal('broker');
    });

    it('case 17: should reject trailing bytes, unsorted or duplicate entries and lists over the cap', () => {
      const { cert, check, caSecretKey } = setup();
      const body = decodeCertBody(cert);
      const variants: Record<string, Uint8Array> = {
        'trailing bytes': new Uint8Array([...cert.tbs, 0x00]),
        'unknown field': new Uint8Array([...cert.tbs, 0xf8, 0x01, 0x01]),
        'duplicated field': new Uint8Array([...cert.tbs, 0x20, 0x02]),
        'explicit default': new Uint8Array([0x70, 0x00, ...cert.tbs]),
        unsorted: tbsWith(body, {
          offers: [
            { service: 0x1234, instanceLo: 3, instanceHi: 3 },
            { service: 0x1234, instanceLo: 1, instanceHi: 1 },
          ],
        }),
        duplicate: tbsWith(body, {
          offers: [
            { service: 0x1234, instanceLo: 1, instanceHi: 1 },
            { service: 0x1234, instanceLo: 1, instanceHi: 1 },
          ],
        }),
        'over the cap': tbsWith(body, {
          offers: Array.from({ length: MAX_RIGHTS_PER_LIST + 1 }, (_, i) => ({
            service: i + 1,
            instanceLo: 1,
            instanceHi: 1,
          })),
        }),
      };
      for (const [name, tbs] of Object.entries(variants)) {
        expect(() => verifyCertificate(crypto, resign(caSecretKey, tbs), check()), name).to.throw(
          CoreError,
        );
      }
    });

    it('should decode what it encodes and refuse a malformed container', () => {
      const { cert } = setup();
      expect(decodeCertificate(encodeCertificate(cert))).to.deep.equal(cert);
      expect(() => decodeCertificate(new Uint8Array([0x0a, 0xff]))).to.throw(CoreError);
    });
  });

  describe('the cache of verified certificates', () => {
    it('should check epoch, time, kind and revocation again on a certificate it has seen', () => {
      const { ca, cert, check } = setup();
      verifyCertificate(crypto, cert, check());
      expect(() => verifyCertificate(crypto, cert, check({ nowMs: T0 + 13n * 3600n * 1000n })))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CERT_EXPIRED');
      expect(() => verifyCertificate(crypto, cert, check({ epoch: 4n })))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CERT_EPOCH');
      expect(() => verifyCertificate(crypto, cert, check({ kind: 'broker' }))).to.throw(
        /endpoint certificate/,
      );
      ca.revoke(decodeCertBody(cert).serial);
      expect(() => verifyCertificate(crypto, cert, check()))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CERT_REVOKED');
    });

    it('should not accept a seen certificate under another CA key', () => {
      const { cert, check } = setup();
      verifyCertificate(crypto, cert, check());
      const otherCa = crypto.ed25519PublicKey(new Uint8Array(32).fill(0x44));
      expect(() => verifyCertificate(crypto, cert, check({ caPublicKey: otherCa }))).to.throw(
        /does not verify under the CA key/,
      );
    });

    it('should hand out bodies whose changes do not reach the next caller', () => {
      const { cert, check } = setup();
      for (let i = 0; i < 2; i++) verifyCertificate(crypto, cert, check()).publicKey.fill(1);
      const first = verifyCertificate(crypto, cert, check());
      const key = first.publicKey.slice();
      first.publicKey.fill(0);
      first.issuerKeyId.fill(0);
      try {
        (first.rights.offers as unknown as unknown[]).push({}); // frozen when it came from the cache
      } catch {
        // a TypeError from the frozen list is what keeps the cached body intact
      }
      const second = verifyCertificate(crypto, cert, check());
      expect(second.publicKey).to.deep.equal(key);
      expect(second.rights).to.deep.equal(allowed);
    });
  });

  describe('encodeCertificate', () => {
    it('should write the bytes the protobuf codec writes, at every length boundary', () => {
      for (const n of [0, 1, 127, 128, 300, 16383, 16384, 18 * 1024]) {
        for (const sigLength of [0, 64]) {
          const c = { tbs: new Uint8Array(n).fill(7), sig: new Uint8Array(sigLength).fill(9) };
          expect(encodeCertificate(c), `tbs ${n}, sig ${sigLength}`).to.deep.equal(
            encodeProto('Certificate', { tbs: c.tbs, sig: c.sig }),
          );
        }
      }
    });
  });

  describe('CertificateAuthority', () => {
    describe('.enrol', () => {
      it('should issue rights = requested ∩ policy to the VM of the link', () => {
        const { ca } = setup();
        const sk = new Uint8Array(32).fill(0x21);
        const nonce = ca.enrolmentNonce(2);
        const csr = createCsr(crypto, sk, {
          subject: 'cluster-app',
          nonce,
          rights: {
            offers: [
              { service: 0x1234, instanceLo: 3, instanceHi: 9 },
              { service: 0x9999, instanceLo: 1, instanceHi: 1 },
            ],
            requests: [
              { service: 0x5678, instanceLo: 1, instanceHi: 5, methodLo: 0, methodHi: 0xffff },
            ],
          },
        });
        const body = ca.verify(ca.enrol(2, csr));
        expect(body.vmId).to.equal(2);
        expect(body.rights).to.deep.equal({
          offers: [{ service: 0x1234, instanceLo: 3, instanceHi: 4 }],
          requests: [
            { service: 0x5678, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0x7fff },
          ],
        });
      });

      it('case 14: should refuse small-order and non-canonical public keys (CCTV vectors)', () => {
        const { ca } = setup();
        const file = join(
          packageRoot(import.meta.url),
          'test',
          'fixtures',
          'vectors',
          'cctv',
          'ed25519vectors.json',
        );
        const vectors = JSON.parse(readFileSync(file, 'utf8')) as Array<{
          key: string;
          flags: string[] | null;
        }>;
        const bad = new Set(
          vectors
            .filter((v) =>
              (v.flags ?? []).some((f) => f === 'low_order_A' || f === 'non_canonical_A'),
            )
            .map((v) => v.key),
        );
        expect(bad.size).to.be.greaterThan(5);
        for (const a of bad) {
          expect(
            () =>
              ca.issue({
                vmId: 2,
                subject: 'x',
                publicKey: Uint8Array.from(Buffer.from(a, 'hex')),
                rights: allowed,
                kind: 'endpoint',
              }),
            a,
          )
            .to.throw(CoreError)
            .with.property('code', 'ERR_BAD_KEY');
        }
      });

      it('case 15: should refuse a CSR without valid proof of possession or over a stale nonce', () => {
        const { ca } = setup();
        const sk = new Uint8Array(32).fill(0x22);
        const nonce = ca.enrolmentNonce(2);
        const csr = createCsr(crypto, sk, { subject: 'a', nonce, rights: allowed });
        const forged = csr.slice();
        forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
        expect(() => ca.enrol(2, forged)).to.throw(/proof of possession|nonce|decode|canonical/);
        // The nonce was consumed by the failed attempt: the genuine CSR is now stale.
        expect(() => ca.enrol(2, csr)).to.throw(/nonce/);
        const fresh = ca.enrolmentNonce(2);
        const stale = createCsr(crypto, sk, { subject: 'a', nonce, rights: allowed });
        expect(() => ca.enrol(2, stale)).to.throw(/nonce/);
        void fresh;
        const again = createCsr(crypto, sk, {
          subject: 'a',
          nonce: ca.enrolmentNonce(2),
          rights: allowed,
        });
        expect(ca.verify(ca.enrol(2, again)).subject).to.equal('a');
      });

      it('should refuse an expired nonce and an unknown VM', () => {
        const now = { t: T0 };
        const { ca } = setup(now);
        const sk = new Uint8Array(32).fill(0x23);
        const csr = createCsr(crypto, sk, {
          subject: 'a',
          nonce: ca.enrolmentNonce(2),
          rights: allowed,
        });
        now.t += 31_000n;
        expect(() => ca.enrol(2, csr)).to.throw(/expired/);
        expect(() => ca.enrol(9, csr)).to.throw(/not configured/);
      });
    });

    describe('.lookup', () => {
      it('should find issued certificates by hash and stop once revoked', () => {
        const { ca, cert } = setup();
        const h = crypto.sha256(encodeCertificate(cert));
        expect(ca.lookup(h)?.body.subject).to.equal('cluster');
        ca.revoke(ca.lookup(h)!.body.serial);
        expect(() => ca.lookup(h)).to.throw(CoreError);
        expect(ca.lookup(new Uint8Array(32))).to.equal(undefined);
      });
    });

    it('should bind the issuer key id', () => {
      const { ca, cert } = setup();
      expect(decodeCertBody(cert).issuerKeyId).to.deep.equal(keyId(crypto, ca.caPublicKey));
    });
  });
});

import { decodeCertificateBody, toProtoRights, type CertificateBody } from './certificate.js';
function decodeCertBody(c: Certificate): CertificateBody {
  return decodeCertificateBody(c.tbs);
}
/** Encodes a body with raw (possibly non-canonical) rights, bypassing the encoder's checks. */
function tbsWith(b: CertificateBody, rights: Partial<Rights>): Uint8Array {
  return encodeProto('CertificateBody', {
    version: 1,
    serial: b.serial.toString(),
    epoch: b.epoch.toString(),
    vmId: b.vmId,
    subject: b.subject,
    publicKey: b.publicKey,
    ...toProtoRights({ ...b.rights, ...rights }),
    notBeforeMs: b.notBeforeMs.toString(),
    notAfterMs: b.notAfterMs.toString(),
    issuerKeyId: b.issuerKeyId,
    kind: 1,
  });
}
