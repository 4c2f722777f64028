import { expect } from 'chai';
import { WindowLayout } from '@sivshm/abi';
import type { BrokerChannel } from '@sivshm/core';
import { ChannelTableWriter, RegionLayout, WindowAllocator } from '@sivshm/transport-ivshmem';
import { JsonLogger } from '../log/logger.js';
import { ChannelLifecycle } from './channel-lifecycle.js';

const LENGTH = BigInt(WindowLayout.windowLength(4096));

/**
 * A lifecycle over a heap "region", driven by the effects the broker would send (the broker's
 * decisions are tested in core: broker-channels.spec.ts).
 */
function rig(opts: { capacity?: number } = {}) {
  const layout = RegionLayout.compute({ regionSize: 1 << 20, channelCapacity: opts.capacity ?? 8 });
  const region = new Uint8Array(layout.regionSize);
  const table = new ChannelTableWriter(region, layout);
  const allocator = new WindowAllocator({
    dataOffset: layout.dataOffset,
    dataSize: layout.dataSize,
    memory: region,
  });
  let now = 1000;
  const lc = new ChannelLifecycle({
    table,
    allocator,
    log: new JsonLogger('error', () => undefined),
    nowMs: () => now,
    monotonicMs: () => now,
  });
  let next = 1n;
  const open = (): BrokerChannel => {
    const window = lc.reserve(LENGTH)!;
    const ch: BrokerChannel = {
      channelId: 0x100n + next++,
      consumerVm: 2,
      providerVm: 1,
      service: 0x1234,
      instance: 1,
      major: 1,
      mode: 'plain',
      window,
      consumerSerial: 1n,
      providerSerial: 1n,
    };
    lc.apply({ kind: 'channel-pending', channel: ch });
    return ch;
  };
  return { lc, table, allocator, region, open, advance: (ms: number) => (now += ms) };
}

describe('ChannelLifecycle', () => {
  describe('channel-pending / channel-active', () => {
    it('should write PENDING then ACTIVE into the channel table with a new generation', () => {
      const r = rig();
      const ch = r.open();
      const i = r.lc.get(ch.channelId)!.tableIndex;
      expect(r.table.read(i)).to.include({
        state: 'PENDING',
        channelId: ch.channelId,
        generation: 1,
      });
      r.lc.apply({ kind: 'channel-active', channel: ch });
      expect(r.table.read(i)).to.include({
        state: 'ACTIVE',
        generation: 1,
        consumerVm: 2,
        providerVm: 1,
        offset: Number(ch.window.offset),
        ringDataSize: 4096,
      });
      expect(r.lc.handshakeTimes()).to.deep.equal([0]);
    });
  });

  describe('.reserve', () => {
    it('should refuse a window when the channel table is full', () => {
      const r = rig({ capacity: 2 });
      r.open();
      r.open();
      expect(r.lc.reserve(LENGTH)).to.equal(undefined);
      expect(r.allocator.stats().allocated).to.equal(2 * Number(LENGTH));
    });

    it('should say which limit a failed reserve met, naming the setting: a full table or no free window', () => {
      const full = rig({ capacity: 2 });
      full.open();
      full.open();
      expect(full.lc.shortage(LENGTH)).to.equal(
        'the channel table is full: all 2 entries are in use (region.channelCapacity in services.yaml)',
      );
      const r = rig();
      const all = BigInt(r.allocator.stats().total);
      r.open();
      const free = r.allocator.stats().free;
      expect(r.lc.reserve(all)).to.equal(undefined);
      expect(r.lc.shortage(all)).to.equal(
        `the region has no free window of ${all} bytes: ${free} bytes free, the largest free extent ${free} bytes in 1 extents, 0 quarantined (region.size in services.yaml, or a smaller ringDataSize for the service)`,
      );
    });
  });

  describe('channel-closing / window-free', () => {
    it('should mark CLOSING, then zero the window and free its slot', () => {
      const r = rig();
      const ch = r.open();
      r.lc.apply({ kind: 'channel-active', channel: ch });
      const i = r.lc.get(ch.channelId)!.tableIndex;
      r.region.fill(0xee, Number(ch.window.offset), Number(ch.window.offset + LENGTH));
      r.lc.apply({ kind: 'channel-closing', channel: ch, reason: 'closed-by-consumer' });
      expect(r.table.read(i).state).to.equal('CLOSING');
      expect(r.lc.get(ch.channelId)?.closeReason).to.equal('closed-by-consumer');
      r.lc.apply({ kind: 'window-free', channel: ch, cause: 'closed' });
      expect(r.table.read(i).state).to.equal('FREE');
      expect(r.lc.list()).to.have.length(0);
      expect(r.allocator.stats().allocated).to.equal(0);
      const w = r.region.subarray(Number(ch.window.offset), Number(ch.window.offset + LENGTH));
      expect(w.every((b) => b === 0)).to.equal(true);
    });

    it('should free at once a window whose handshake aborted before M4', () => {
      const r = rig();
      const ch = r.open();
      r.lc.apply({ kind: 'window-free', channel: ch, cause: 'aborted' });
      r.lc.apply({
        kind: 'channel-aborted',
        channel: ch,
        reason: 'timeout',
        detail: '',
        grantIssued: false,
      });
      expect(r.allocator.stats().allocated).to.equal(0);
      expect(r.lc.list()).to.have.length(0);
    });
  });

  describe('window-quarantine / window-release', () => {
    it('should keep a quarantined window out of use until it is released', () => {
      const r = rig();
      const ch = r.open();
      r.lc.apply({ kind: 'channel-active', channel: ch });
      const i = r.lc.get(ch.channelId)!.tableIndex;
      r.lc.apply({ kind: 'channel-closing', channel: ch, reason: 'stop-offer' });
      r.lc.apply({ kind: 'window-quarantine', channel: ch, holder: 2 });
      expect(r.table.read(i).state).to.equal('QUARANTINED');
      expect(r.allocator.stats().quarantined).to.equal(Number(LENGTH));
      expect(r.lc.quarantinedCount()).to.equal(1);
      expect(r.lc.reserve(LENGTH)!.offset).to.not.equal(ch.window.offset);
      r.lc.apply({ kind: 'window-release', channel: ch });
      expect(r.table.read(i).state).to.equal('FREE');
      expect(r.allocator.stats().quarantined).to.equal(0);
      expect(r.lc.quarantinedCount()).to.equal(0);
    });

    it('should quarantine the window of a handshake that aborted after M4', () => {
      const r = rig();
      const ch = r.open();
      const i = r.lc.get(ch.channelId)!.tableIndex;
      r.lc.apply({ kind: 'window-quarantine', channel: ch, holder: 2 });
      r.lc.apply({
        kind: 'channel-aborted',
        channel: ch,
        reason: 'timeout',
        detail: '',
        grantIssued: true,
      });
      expect(r.table.read(i).state).to.equal('QUARANTINED');
      expect(r.lc.list()).to.have.length(0);
      r.lc.apply({ kind: 'window-release', channel: ch });
      expect(r.table.read(i).state).to.equal('FREE');
      expect(r.allocator.stats().allocated + r.allocator.stats().quarantined).to.equal(0);
    });
  });
});
