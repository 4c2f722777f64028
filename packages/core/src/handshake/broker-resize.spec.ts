// The broker's part of moving a channel to a successor window (docs/protocol.md §11): the
// successor's grants bound to the ends' device files, the old id revoked without a peer-gone
// once both ends moved, and both ids torn down (with the reason) when the move failed.
import { expect } from 'chai';
import { nodeBackend } from '../crypto/node-backend.js';
import { verifyGrant } from '../grant/grant-verify.js';
import { SerialWindow } from '../grant/serial-window.js';
import { BrokerChannels } from './broker-channels.js';
import { GrantMinter } from './broker-grants.js';
import { abandonSuccessor, adoptSuccessor, successorOf } from './broker-resize.js';
import type { BrokerChannel } from './broker-types.js';

const KEYS = new Map([
  [1, new Uint8Array(32).fill(1)],
  [2, new Uint8Array(32).fill(2)],
]);

function rig() {
  const channels = new BrokerChannels({
    nowMs: () => 1000n,
    revokeAckTimeoutMs: 500n,
    connected: () => true,
  });
  let seed = 0;
  const minter = new GrantMinter({
    crypto: nodeBackend,
    brokerSecretKey: new Uint8Array(32),
    grantKeys: KEYS,
    epoch: () => 5n,
    nowMs: () => BigInt(Date.now()),
    lifetimeMs: 10_000n,
    random: (n) => new Uint8Array(n).fill(++seed),
    doorbellOf: () => undefined,
    deviceWindowOffset: () => undefined,
  });
  const old: BrokerChannel = {
    channelId: 0x77n,
    consumerVm: 2,
    providerVm: 1,
    service: 0x1234,
    instance: 1,
    major: 1,
    mode: 'aead',
    window: { offset: 0x10000n, length: 0x6000n },
    consumerSerial: 1n,
    providerSerial: 1n,
    knC: new Uint8Array(16).fill(0xc),
    knP: new Uint8Array(16).fill(0xd),
  };
  channels.activate(old);
  return { channels, minter, old };
}

const window = { offset: 0x20000n, length: 0xa000n };

describe('broker: moving a channel to a successor window', () => {
  it("should grant the successor's window to both ends on their own device files, under a fresh id", () => {
    const { channels, minter, old } = rig();
    const s = successorOf(minter, channels, old.channelId, window)!;
    expect(s.channel.channelId).to.not.equal(old.channelId);
    expect(s.channel.window).to.deep.equal(window);
    expect(s.channel.mode).to.equal('aead');
    for (const [role, vm, kn] of [
      ['consumer', 2, old.knC!],
      ['provider', 1, old.knP!],
    ] as const) {
      const v = verifyGrant(nodeBackend, KEYS.get(vm)!, s.grants[role].token, s.grants[role].tag, {
        vmId: vm,
        epoch: 5n,
        kn,
        nowNs: BigInt(Date.now()) * 1_000_000n,
        region: { size: 1n << 20n, dataOffset: 0x10000n, dataSize: 0xf0000n },
        serials: new SerialWindow(),
      });
      expect(v.ok, `${role}: ${v.ok ? '' : v.reason}`).to.equal(true);
      if (v.ok) {
        expect(v.token.channelId).to.equal(s.channel.channelId);
        expect(v.token.role).to.equal(role);
        expect(v.token.windowOffset).to.equal(window.offset);
      }
    }
  });

  it('should have no successor for a channel that is not active, or whose files it does not know', () => {
    const { channels, minter, old } = rig();
    const { knC: _c, knP: _p, ...withoutFiles } = old;
    channels.activate({ ...withoutFiles, channelId: 0x78n });
    expect(successorOf(minter, channels, 0x78n, window)).to.equal(undefined);
    channels.close(old.channelId, 'closed-by-consumer');
    expect(successorOf(minter, channels, old.channelId, window)).to.equal(undefined);
    expect(successorOf(minter, channels, 0x99n, window)).to.equal(undefined);
  });

  it('should adopt the successor and revoke the old id at both ends without a peer-gone', () => {
    const { channels, minter, old } = rig();
    const s = successorOf(minter, channels, old.channelId, window)!;
    const effects = adoptSuccessor(channels, old.channelId, s.channel);
    expect(effects.map((e) => `${e.kind}${'vmId' in e ? `:${e.vmId}` : ''}`)).to.deep.equal([
      'channel-active',
      'channel-closing',
      'revoke:2',
      'revoke:1',
    ]);
    expect(channels.get(s.channel.channelId)?.state).to.equal('ACTIVE');
    expect(channels.get(old.channelId)?.state).to.equal('CLOSING');
  });

  it('should tear both ids down, telling each end why, when the move failed', () => {
    const { channels, minter, old } = rig();
    const s = successorOf(minter, channels, old.channelId, window)!;
    const effects = abandonSuccessor(channels, old.channelId, s.channel);
    const gone = effects.filter((e) => e.kind === 'peer-gone');
    expect(gone).to.have.length(4);
    expect(gone.every((e) => e.kind === 'peer-gone' && e.reason === 'resize-failed')).to.equal(
      true,
    );
    expect(effects.filter((e) => e.kind === 'revoke')).to.have.length(4);
    expect(channels.get(s.channel.channelId)?.state).to.equal('CLOSING');
    expect(channels.get(old.channelId)?.state).to.equal('CLOSING');
  });
});
