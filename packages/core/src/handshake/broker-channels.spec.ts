// The broker's teardown decisions (docs/security.md: revocation and quarantine): whom it
// revokes and tells, what it waits for, and when a window may be reused.
import { expect } from 'chai';
import { BrokerChannels } from './broker-channels.js';
import type { BrokerChannel, BrokerEffect } from './broker-types.js';

const CONSUMER = 2;
const PROVIDER = 1;

function rig(refusedQuarantineOutlivesLink = false) {
  let now = 1000n;
  const connected = new Set([CONSUMER, PROVIDER]);
  const channels = new BrokerChannels({
    nowMs: () => now,
    revokeAckTimeoutMs: 500n,
    connected: (vm) => connected.has(vm),
    refusedQuarantineOutlivesLink,
  });
  let next = 1n;
  const open = (): BrokerChannel => {
    const ch: BrokerChannel = {
      channelId: 0x100n + next,
      consumerVm: CONSUMER,
      providerVm: PROVIDER,
      service: 0x1234,
      instance: 1,
      major: 1,
      mode: 'plain',
      window: { offset: 0x10000n * next++, length: 0x6000n },
      consumerSerial: 1n,
      providerSerial: 1n,
    };
    channels.activate(ch);
    return ch;
  };
  return { channels, connected, open, advance: (ms: bigint) => (now += ms) };
}

const kinds = (effects: readonly BrokerEffect[]): string[] =>
  effects.map((e) =>
    e.kind === 'revoke' || e.kind === 'peer-gone' ? `${e.kind}:${e.vmId}` : e.kind,
  );

describe('BrokerChannels', () => {
  it('should revoke at both ends, tell only the peer, and free the window after both acks', () => {
    const r = rig();
    const ch = r.open();
    expect(kinds(r.channels.close(ch.channelId, 'closed-by-consumer'))).to.deep.equal([
      'channel-closing',
      'revoke:2',
      'peer-gone:1',
      'revoke:1',
    ]);
    expect(r.channels.close(ch.channelId, 'closed-by-consumer')).to.deep.equal([]);
    expect(r.channels.revokeAcknowledged(CONSUMER, ch.channelId)).to.deep.equal([]);
    expect(r.channels.revokeAcknowledged(PROVIDER, ch.channelId)).to.deep.equal([
      { kind: 'window-free', channel: ch, cause: 'closed' },
    ]);
    expect(r.channels.list()).to.have.length(0);
    expect(r.channels.bytesHeld(CONSUMER)).to.equal(0n);
  });

  it('should not wait for a VM that is gone', () => {
    const r = rig();
    const ch = r.open();
    r.connected.delete(PROVIDER);
    expect(kinds(r.channels.close(ch.channelId, 'vm-gone', PROVIDER))).to.deep.equal([
      'channel-closing',
      'peer-gone:2',
      'revoke:2',
    ]);
    expect(kinds(r.channels.revokeAcknowledged(CONSUMER, ch.channelId))).to.deep.equal([
      'window-free',
    ]);
  });

  it('should quarantine the window of a VM that does not ack in time until it goes away', () => {
    const r = rig();
    const ch = r.open();
    r.channels.close(ch.channelId, 'stop-offer');
    r.channels.revokeAcknowledged(PROVIDER, ch.channelId);
    r.advance(499n);
    expect(r.channels.tick()).to.deep.equal([]);
    r.advance(1n);
    expect(r.channels.tick()).to.deep.equal([
      { kind: 'window-quarantine', channel: ch, holder: CONSUMER },
    ]);
    // Its quota is free again; a late acknowledgement does not release the window.
    expect(r.channels.bytesHeld(CONSUMER)).to.equal(0n);
    expect(r.channels.revokeAcknowledged(CONSUMER, ch.channelId)).to.deep.equal([]);
    expect(r.channels.quarantinedCount()).to.equal(1);
    expect(r.channels.holderGone(CONSUMER)).to.deep.equal([
      { kind: 'window-release', channel: ch },
    ]);
    expect(r.channels.quarantinedCount()).to.equal(0);
  });

  it('should quarantine and revoke a window whose consumer already holds a grant, until it acks', () => {
    const r = rig();
    const ch = { ...r.open(), channelId: 0x999n };
    expect(r.channels.quarantineGranted(ch)).to.deep.equal([
      { kind: 'window-quarantine', channel: ch, holder: CONSUMER },
      { kind: 'revoke', vmId: CONSUMER, channelId: ch.channelId },
    ]);
    expect(r.channels.revokeAcknowledged(PROVIDER, ch.channelId)).to.deep.equal([]);
    expect(r.channels.revokeAcknowledged(CONSUMER, ch.channelId)).to.deep.equal([
      { kind: 'window-release', channel: ch },
    ]);
  });

  it('should quarantine on a refused revoke receipt and not release on any later ack', () => {
    const r = rig();
    const ch = r.open();
    r.channels.close(ch.channelId, 'closed-by-consumer');
    expect(r.channels.revokeReceiptRefused(CONSUMER, ch.channelId)).to.deep.equal([
      { kind: 'window-quarantine', channel: ch, holder: CONSUMER },
    ]);
    // The provider's verified ack no longer frees it; the consumer's later "good" one neither.
    expect(r.channels.revokeAcknowledged(PROVIDER, ch.channelId)).to.deep.equal([]);
    expect(r.channels.revokeAcknowledged(CONSUMER, ch.channelId)).to.deep.equal([]);
    expect(r.channels.tick()).to.deep.equal([]);
    expect(r.channels.quarantinedCount()).to.equal(1);
    expect(r.channels.holderGone(CONSUMER)).to.deep.equal([
      { kind: 'window-release', channel: ch },
    ]);
  });

  it('should keep a window quarantined while any VM that did not ack may still map it', () => {
    const r = rig();
    const ch = r.open();
    r.channels.close(ch.channelId, 'stop-offer');
    r.channels.revokeReceiptRefused(CONSUMER, ch.channelId);
    // The provider has not acked either: the consumer's going away alone does not release it.
    expect(r.channels.holderGone(CONSUMER)).to.deep.equal([]);
    expect(r.channels.revokeAcknowledged(PROVIDER, ch.channelId)).to.deep.equal([
      { kind: 'window-release', channel: ch },
    ]);
  });

  it('should keep a window quarantined after an abort when the consumer refuses the receipt', () => {
    const r = rig();
    const ch = { ...r.open(), channelId: 0x998n };
    r.channels.quarantineGranted(ch);
    expect(r.channels.revokeReceiptRefused(CONSUMER, ch.channelId)).to.deep.equal([]);
    expect(r.channels.revokeAcknowledged(CONSUMER, ch.channelId)).to.deep.equal([]);
    expect(r.channels.quarantinedCount()).to.equal(1);
    expect(r.channels.holderGone(CONSUMER)).to.deep.equal([
      { kind: 'window-release', channel: ch },
    ]);
  });

  it('should quarantine for every VM still due when the deadline passes', () => {
    const r = rig();
    const ch = r.open();
    r.channels.close(ch.channelId, 'stop-offer');
    r.advance(500n);
    expect(kinds(r.channels.tick())).to.deep.equal(['window-quarantine']);
    expect(r.channels.holderGone(CONSUMER)).to.deep.equal([]);
    expect(r.channels.holderGone(PROVIDER)).to.deep.equal([
      { kind: 'window-release', channel: ch },
    ]);
  });

  it('should charge a window quarantined for a refused receipt to the VM that refused it', () => {
    const r = rig();
    const ch = r.open();
    r.channels.close(ch.channelId, 'closed-by-consumer');
    r.channels.revokeAcknowledged(PROVIDER, ch.channelId);
    r.channels.revokeReceiptRefused(CONSUMER, ch.channelId);
    expect(r.channels.bytesHeld(CONSUMER)).to.equal(ch.window.length);
    r.channels.holderGone(CONSUMER);
    expect(r.channels.bytesHeld(CONSUMER)).to.equal(0n);
  });

  it('should keep a refused-receipt quarantine across a link drop when it outlives links (qemu mode)', () => {
    const r = rig(true);
    const ch = r.open();
    r.channels.close(ch.channelId, 'closed-by-consumer');
    r.channels.revokeAcknowledged(PROVIDER, ch.channelId);
    r.channels.revokeReceiptRefused(CONSUMER, ch.channelId);
    expect(r.channels.holderGone(CONSUMER)).to.deep.equal([]);
    expect(r.channels.quarantinedCount()).to.equal(1);
    // A quarantine for a missed deadline still ends with the link.
    const late = r.open();
    r.channels.close(late.channelId, 'stop-offer');
    r.channels.revokeAcknowledged(CONSUMER, late.channelId);
    r.advance(500n);
    r.channels.tick();
    expect(r.channels.holderGone(PROVIDER)).to.deep.equal([
      { kind: 'window-release', channel: late },
    ]);
  });
});
