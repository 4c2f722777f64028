import { expect } from 'chai';
import type { BrokerChannel, Window } from '@sivshm/core';
import { WindowLayout } from '@sivshm/kmod';
import { ChannelTableWriter, RegionLayout, WindowAllocator } from '@sivshm/transport-ivshmem';
import { JsonLogger } from '../log/logger.js';
import { ChannelLifecycle, type CloseReason } from './channel-lifecycle.js';

const LENGTH = BigInt(WindowLayout.windowLength(4096));

/** A lifecycle over a heap "region" with a broker stand-in that releases like the real one. */
function rig(opts: { capacity?: number; connected?: number[] } = {}) {
  const layout = RegionLayout.compute({ regionSize: 1 << 20, channelCapacity: opts.capacity ?? 8 });
  const region = new Uint8Array(layout.regionSize);
  const table = new ChannelTableWriter(region, layout);
  const allocator = new WindowAllocator({
    dataOffset: layout.dataOffset,
    dataSize: layout.dataSize,
    memory: region,
  });
  let now = 1000;
  const revokes: [number, bigint][] = [];
  const gone: [number, bigint, CloseReason][] = [];
  const connected = new Set(opts.connected ?? [1, 2]);
  const windows = new Map<bigint, Window>();
  const lc: ChannelLifecycle = new ChannelLifecycle({
    table,
    allocator,
    log: new JsonLogger('error', () => undefined),
    nowMs: () => now,
    monotonicMs: () => now,
    connected: (vm) => connected.has(vm),
    sendRevoke: (vm, id) => {
      revokes.push([vm, id]);
      return connected.has(vm);
    },
    sendPeerGone: (vm, id, reason) => void gone.push([vm, id, reason]),
    brokerClose: (id) => {
      const w = windows.get(id);
      windows.delete(id);
      if (w !== undefined) lc.release(w);
    },
    revokeAckTimeoutMs: 500,
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
    windows.set(ch.channelId, window);
    lc.pending(ch);
    return ch;
  };
  return {
    lc,
    table,
    allocator,
    region,
    revokes,
    gone,
    connected,
    open,
    advance: (ms: number) => (now += ms),
  };
}

describe('ChannelLifecycle', () => {
  describe('.pending / .active', () => {
    it('should write PENDING then ACTIVE into the channel table with a new generation', () => {
      const r = rig();
      const ch = r.open();
      const i = r.lc.get(ch.channelId)!.tableIndex;
      expect(r.table.read(i)).to.include({
        state: 'PENDING',
        channelId: ch.channelId,
        generation: 1,
      });
      r.lc.active(ch);
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
  });

  describe('.close', () => {
    it('should revoke at both ends, tell only the peer, and zero and free after both acks', () => {
      const r = rig();
      const ch = r.open();
      r.lc.active(ch);
      const i = r.lc.get(ch.channelId)!.tableIndex;
      r.region.fill(0xee, Number(ch.window.offset), Number(ch.window.offset + LENGTH));
      expect(r.lc.close(ch.channelId, 'closed-by-consumer')).to.equal(true);
      expect(r.table.read(i).state).to.equal('CLOSING');
      expect(r.revokes).to.deep.equal([
        [2, ch.channelId],
        [1, ch.channelId],
      ]);
      expect(r.gone).to.deep.equal([[1, ch.channelId, 'closed-by-consumer']]);
      r.lc.revokeAcknowledged(2, ch.channelId);
      expect(r.table.read(i).state).to.equal('CLOSING');
      r.lc.revokeAcknowledged(1, ch.channelId);
      expect(r.table.read(i).state).to.equal('FREE');
      expect(r.allocator.stats().allocated).to.equal(0);
      const w = r.region.subarray(Number(ch.window.offset), Number(ch.window.offset + LENGTH));
      expect(w.every((b) => b === 0)).to.equal(true);
    });

    it('should not wait for a VM that is gone', () => {
      const r = rig();
      const ch = r.open();
      r.lc.active(ch);
      r.connected.delete(1);
      r.lc.close(ch.channelId, 'vm-gone', 1);
      expect(r.revokes).to.deep.equal([[2, ch.channelId]]);
      expect(r.gone).to.deep.equal([[2, ch.channelId, 'vm-gone']]);
      r.lc.revokeAcknowledged(2, ch.channelId);
      expect(r.lc.list()).to.have.length(0);
    });

    it('should quarantine the window of a VM that does not ack in time until it goes away', () => {
      const r = rig();
      const ch = r.open();
      r.lc.active(ch);
      const i = r.lc.get(ch.channelId)!.tableIndex;
      r.lc.close(ch.channelId, 'stop-offer');
      r.lc.revokeAcknowledged(1, ch.channelId);
      r.advance(499);
      r.lc.tick();
      expect(r.table.read(i).state).to.equal('CLOSING');
      r.advance(1);
      r.lc.tick();
      expect(r.table.read(i).state).to.equal('QUARANTINED');
      expect(r.allocator.stats().quarantined).to.equal(Number(LENGTH));
      expect(r.lc.reserve(LENGTH)!.offset).to.not.equal(ch.window.offset);
      r.lc.vmGone(2);
      expect(r.table.read(i).state).to.equal('FREE');
      expect(r.allocator.stats().quarantined).to.equal(0);
    });
  });

  describe('.release after M4', () => {
    it('should quarantine and revoke a window whose consumer already holds a grant', () => {
      const r = rig();
      const ch = r.open();
      const i = r.lc.get(ch.channelId)!.tableIndex;
      // The broker aborts at the M5 deadline, after M4 went out.
      r.lc.release(ch.window, {
        channelId: ch.channelId,
        consumerVm: 2,
        cause: 'aborted',
        grantIssued: true,
      });
      r.lc.aborted(ch, 'timeout');
      expect(r.table.read(i).state).to.equal('QUARANTINED');
      expect(r.revokes).to.deep.equal([[2, ch.channelId]]);
      expect(r.lc.quarantinedCount()).to.equal(1);
      r.lc.revokeAcknowledged(2, ch.channelId);
      expect(r.table.read(i).state).to.equal('FREE');
      expect(r.allocator.stats().allocated + r.allocator.stats().quarantined).to.equal(0);
    });

    it('should free at once a window whose handshake aborted before M4', () => {
      const r = rig();
      const ch = r.open();
      r.lc.release(ch.window, {
        channelId: ch.channelId,
        consumerVm: 2,
        cause: 'aborted',
        grantIssued: false,
      });
      r.lc.aborted(ch, 'timeout');
      expect(r.revokes).to.have.length(0);
      expect(r.allocator.stats().allocated).to.equal(0);
    });
  });
});
