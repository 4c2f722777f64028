import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { packageRoot } from '../util/package-root.js';
import { buildGrantVectors, type GrantVector } from '../../test/vectors/grant-vectors.js';
import { GrantLayout } from '@sivshm/abi';
import { decodeGrant, encodeGrant, type GrantToken } from './grant-token.js';
import { signGrant, verifyGrant } from './grant-verify.js';
import { SerialWindow } from './serial-window.js';

const fixture = join(packageRoot(import.meta.url), 'test', 'fixtures', 'grant-vectors.json');
const file = JSON.parse(readFileSync(fixture, 'utf8')) as { label: string; vectors: GrantVector[] };
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function contextOf(v: GrantVector) {
  const serials = new SerialWindow();
  for (const s of v.context.seenSerials) serials.commit(BigInt(s));
  return {
    vmId: v.context.vmId,
    epoch: BigInt(v.context.epoch),
    kn: bytes(v.context.kn),
    nowNs: BigInt(v.context.nowNs),
    region: {
      size: BigInt(v.context.regionSize),
      dataOffset: BigInt(v.context.dataOffset),
      dataSize: BigInt(v.context.dataSize),
    },
    serials,
  };
}

describe('grant tokens', () => {
  describe('vector file', () => {
    it('should be exactly what both backends generate (a wire change must be deliberate)', () => {
      expect(buildGrantVectors(nobleBackend)).to.deep.equal(file.vectors);
      expect(buildGrantVectors(nodeBackend)).to.deep.equal(file.vectors);
      expect(file.label).to.equal('sivshm v1 grant\0');
    });

    for (const crypto of [nobleBackend, nodeBackend]) {
      it(`should give every vector its expected verdict and reason (${crypto.name})`, () => {
        let accepted = 0;
        for (const v of file.vectors) {
          const verdict = verifyGrant(
            crypto,
            bytes(v.key),
            bytes(v.token),
            bytes(v.tag),
            contextOf(v),
          );
          expect(verdict.ok, v.name).to.equal(v.expect === 'accept');
          if (!verdict.ok) expect(verdict.reason, v.name).to.equal(v.reason);
          else accepted++;
        }
        expect(accepted).to.equal(file.vectors.filter((v) => v.expect === 'accept').length);
        expect(file.vectors.length).to.be.greaterThan(40);
      });
    }
  });

  describe('.verifyGrant', () => {
    const crypto = nodeBackend;
    const v = file.vectors[0]!;

    it('case 20: should refuse the same token a second time (same device, serial used)', () => {
      const ctx = contextOf(v);
      expect(verifyGrant(crypto, bytes(v.key), bytes(v.token), bytes(v.tag), ctx).ok).to.equal(
        true,
      );
      expect(verifyGrant(crypto, bytes(v.key), bytes(v.token), bytes(v.tag), ctx)).to.deep.equal({
        ok: false,
        reason: 'replay',
      });
    });

    it('case 21: should refuse a token of VM A presented to VM B (its key differs)', () => {
      const other = new Uint8Array(32).fill(0x77);
      expect(verifyGrant(crypto, other, bytes(v.token), bytes(v.tag), contextOf(v))).to.deep.equal({
        ok: false,
        reason: 'tag',
      });
    });

    it("case 22: should refuse a token bound to another process's open file", () => {
      const ctx = { ...contextOf(v), kn: new Uint8Array(16).fill(0xee) };
      expect(verifyGrant(crypto, bytes(v.key), bytes(v.token), bytes(v.tag), ctx)).to.deep.equal({
        ok: false,
        reason: 'kn',
      });
    });

    it('case 23: should refuse a token of an earlier epoch (hostd restarted)', () => {
      const ctx = { ...contextOf(v), epoch: 8n };
      expect(verifyGrant(crypto, bytes(v.key), bytes(v.token), bytes(v.tag), ctx).ok).to.equal(
        false,
      );
    });

    it('case 32: should refuse windows not page-aligned, over the control section or past the region', () => {
      const reasons = file.vectors.filter((x) => x.reason === 'window').map((x) => x.name);
      expect(reasons).to.include.members([
        'window offset not page-aligned',
        'window over the control section',
        'window past the end of the region',
      ]);
    });

    it('should not burn the serial of a refused token', () => {
      const ctx = { ...contextOf(v), kn: new Uint8Array(16) };
      expect(verifyGrant(crypto, bytes(v.key), bytes(v.token), bytes(v.tag), ctx).ok).to.equal(
        false,
      );
      expect(ctx.serials.isFresh(10n)).to.equal(true);
    });

    it('should refuse wrong sizes of token and tag', () => {
      const ctx = contextOf(v);
      expect(
        verifyGrant(crypto, bytes(v.key), bytes(v.token).subarray(1), bytes(v.tag), ctx),
      ).to.deep.equal({
        ok: false,
        reason: 'size',
      });
      expect(
        verifyGrant(crypto, bytes(v.key), bytes(v.token), bytes(v.tag).subarray(1), ctx),
      ).to.deep.equal({
        ok: false,
        reason: 'size',
      });
    });
  });

  describe('.encodeGrant / .decodeGrant', () => {
    const t: GrantToken = {
      role: 'provider',
      perms: 1,
      epoch: (1n << 64n) - 1n,
      grantSerial: 1n,
      vmId: 0xffff_ffff,
      channelId: 5n,
      windowOffset: 4096n,
      windowLength: 4096n,
      kn: new Uint8Array(16).fill(3),
      notAfterNs: 9n,
      mode: 'mac',
      doorbell: { peer: 0xfffe, ring: 0xffffffff, observe: 0x80000000 },
    };

    it('should round-trip every field at its extremes', () => {
      const b = encodeGrant(t);
      expect(b.length).to.equal(GrantLayout.size);
      expect(decodeGrant(b)).to.deep.equal({ ok: true, token: t });
    });

    it('should encode a grant without a route as db_peer 0xFFFF and decode it as no peer', () => {
      const { doorbell: _route, ...bare } = t;
      const b = encodeGrant(bare);
      expect(new DataView(b.buffer).getUint16(GrantLayout.off.dbPeer, true)).to.equal(0xffff);
      const d = decodeGrant(b);
      expect(d.ok && d.token.doorbell).to.deep.equal({ peer: undefined, ring: 0, observe: 0 });
    });

    it('should refuse to encode a route that rings without a peer, or is out of range', () => {
      for (const doorbell of [
        { peer: undefined, ring: 1, observe: 0 },
        { peer: 0xffff, ring: 1, observe: 1 },
        { peer: -1, ring: 0, observe: 0 },
        { peer: 1, ring: 2 ** 32, observe: 0 },
        { peer: 1, ring: 0, observe: -1 },
      ]) {
        expect(() => encodeGrant({ ...t, doorbell }), JSON.stringify(doorbell)).to.throw(
          /grant doorbell/,
        );
      }
    });

    it('should reject out-of-range fields with a typed error', () => {
      for (const bad of [
        { vmId: -1 },
        { vmId: 2 ** 32 },
        { epoch: 1n << 64n },
        { kn: new Uint8Array(15) },
        { perms: 0x10000 },
        { mode: 'none' as 'plain' },
        { role: 'admin' as 'consumer' },
      ]) {
        expect(() => encodeGrant({ ...t, ...bad }), JSON.stringify(Object.keys(bad))).to.throw(
          /grant/,
        );
      }
    });

    it('should produce the tag core signs with', () => {
      const key = new Uint8Array(32).fill(1);
      const s = signGrant(nodeBackend, key, t);
      expect(s.tag).to.have.length(32);
      expect(signGrant(nobleBackend, key, t)).to.deep.equal(s);
    });
  });
});

describe('SerialWindow', () => {
  describe('.isFresh / .commit', () => {
    it('should accept each serial once, tolerate reordering inside the window, refuse older ones', () => {
      const w = new SerialWindow();
      expect(w.isFresh(0n)).to.equal(true);
      w.commit(5n);
      w.commit(3n);
      expect(w.isFresh(5n)).to.equal(false);
      expect(w.isFresh(3n)).to.equal(false);
      expect(w.isFresh(4n)).to.equal(true);
      w.commit(200n);
      expect(w.isFresh(4n)).to.equal(false); // fell out of the window
      expect(w.isFresh(137n)).to.equal(true); // 200 - 63
      expect(w.isFresh(136n)).to.equal(false); // 200 - 64
      w.commit(150n);
      expect(w.recorded()).to.deep.equal([200n, 150n]);
    });

    it('should match a reference model over random sequences', () => {
      let x = 12345;
      const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x);
      const w = new SerialWindow();
      const seen = new Set<bigint>();
      let high = -1n;
      for (let i = 0; i < 5000; i++) {
        const s = BigInt(Math.max(0, Number(high) + (rnd() % 100) - 70));
        const fresh = s > high || (high - s < 64n && !seen.has(s));
        expect(w.isFresh(s), `serial ${s} after high ${high}`).to.equal(fresh);
        if (fresh) {
          w.commit(s);
          seen.add(s);
          if (s > high) high = s;
        }
      }
    });
  });
});
