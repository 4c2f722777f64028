import { expect } from 'chai';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { RevokeLayout } from '@sivshm/abi';
import { signRevoke, verifyRevoke } from './revoke-token.js';
import { SerialWindow } from './serial-window.js';

describe('revoke tokens', () => {
  const key = new Uint8Array(32).fill(5);
  const token = { epoch: 7n, revokeSerial: 1n, vmId: 2, channelId: 0xabcn };

  describe('.verifyRevoke', () => {
    it('case 31: should accept a genuine REVOKE once and ignore forged or replayed ones', () => {
      const s = signRevoke(nodeBackend, key, token);
      expect(s.token).to.have.length(RevokeLayout.size);
      expect(signRevoke(nobleBackend, key, token)).to.deep.equal(s);
      const ctx = { vmId: 2, epoch: 7n, serials: new SerialWindow() };
      const forged = s.tag.slice();
      forged[0] = (forged[0] ?? 0) ^ 1;
      expect(verifyRevoke(nodeBackend, key, s.token, forged, ctx)).to.deep.equal({
        ok: false,
        reason: 'tag',
      });
      expect(verifyRevoke(nodeBackend, key, s.token, s.tag, ctx)).to.deep.equal({
        ok: true,
        token,
      });
      expect(verifyRevoke(nodeBackend, key, s.token, s.tag, ctx)).to.deep.equal({
        ok: false,
        reason: 'replay',
      });
    });

    it('should refuse another VM, another epoch and non-zero padding', () => {
      const ctx = () => ({ vmId: 2, epoch: 7n, serials: new SerialWindow() });
      const other = signRevoke(nodeBackend, key, { ...token, vmId: 3 });
      expect(verifyRevoke(nodeBackend, key, other.token, other.tag, ctx())).to.deep.include({
        reason: 'vm',
      });
      const old = signRevoke(nodeBackend, key, { ...token, epoch: 6n });
      expect(verifyRevoke(nodeBackend, key, old.token, old.tag, ctx())).to.deep.include({
        reason: 'epoch',
      });
      const padded = signRevoke(nodeBackend, key, token).token;
      padded[RevokeLayout.off.pad1] = 1;
      const tag = nodeBackend.hmacSha256(
        key,
        new TextEncoder().encode('sivshm v1 revoke\0'),
        padded,
      );
      expect(verifyRevoke(nodeBackend, key, padded, tag, ctx())).to.deep.include({ reason: 'pad' });
    });
  });
});
