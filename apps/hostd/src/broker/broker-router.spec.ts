import { expect } from 'chai';
import { WindowLayout } from '@sivshm/abi';
import type {
  BrokerChannel,
  BrokerEffect,
  BrokerHandshakes,
  ControlMessage,
  ServiceConfig,
  Window,
} from '@sivshm/core';
import { ChannelTableWriter, RegionLayout, WindowAllocator } from '@sivshm/transport-ivshmem';
import { ChannelLifecycle } from '../channels/channel-lifecycle.js';
import { JsonLogger } from '../log/logger.js';
import { VmRegistry } from '../vms/vm-registry.js';
import { BrokerRouter } from './broker-router.js';

const LENGTH = BigInt(WindowLayout.windowLength(4096));

/** A router over a heap region and a broker stand-in that answers a window with M2. */
function rig() {
  const layout = RegionLayout.compute({ regionSize: 1 << 20, channelCapacity: 8 });
  const region = new Uint8Array(layout.regionSize);
  const table = new ChannelTableWriter(region, layout);
  const log = new JsonLogger('error', () => undefined);
  const lifecycle = new ChannelLifecycle({
    table,
    allocator: new WindowAllocator({
      dataOffset: layout.dataOffset,
      dataSize: layout.dataSize,
      memory: region,
    }),
    log,
    nowMs: () => 0,
  });
  const sent: [number, ControlMessage][] = [];
  const send = (vm: number, m: ControlMessage): boolean => (sent.push([vm, m]), true);
  const config = {
    vms: [
      { id: 1, name: 'p' },
      { id: 2, name: 'c' },
    ],
    services: [],
  } as unknown as ServiceConfig;
  const vms = new VmRegistry({
    config,
    grantKeys: new Map([
      [1, new Uint8Array(32)],
      [2, new Uint8Array(32)],
    ]),
    log,
    send,
  });
  const answered: [number, Window | undefined][] = [];
  const channel = (window: Window): BrokerChannel => ({
    channelId: 0x42n,
    consumerVm: 2,
    providerVm: 1,
    service: 0x1234,
    instance: 1,
    major: 1,
    mode: 'plain',
    window,
    consumerSerial: 1n,
    providerSerial: 1n,
  });
  const broker = {
    windowReserved: (ticket: number, window: Window | undefined): BrokerEffect[] => {
      answered.push([ticket, window]);
      if (window === undefined) return [];
      return [
        { kind: 'channel-pending', channel: channel(window) },
        { kind: 'send', vmId: 1, bytes: new Uint8Array([2]) },
      ];
    },
  } as unknown as BrokerHandshakes;
  const revokes: [number, bigint][] = [];
  const router = new BrokerRouter({
    broker,
    lifecycle,
    vms,
    log,
    send,
    sendRevoke: (vm, id) => void revokes.push([vm, id]),
  });
  return { router, lifecycle, table, vms, sent, answered, revokes, channel };
}

describe('BrokerRouter', () => {
  it('should answer a window request at once and carry the answer out in order', () => {
    const r = rig();
    r.router.route([
      { kind: 'reserve-window', ticket: 7, length: LENGTH, consumerVm: 2, providerVm: 1 },
    ]);
    expect(r.answered).to.have.length(1);
    expect(r.answered[0]![0]).to.equal(7);
    const rec = r.lifecycle.get(0x42n)!;
    expect(r.table.read(rec.tableIndex).state).to.equal('PENDING');
    expect(r.sent).to.deep.equal([[1, { kind: 'handshake', message: new Uint8Array([2]) }]]);
  });

  it("should send a grant with the other VM's doorbell id, REVOKEs and PEER_GONEs to theirs", () => {
    const r = rig();
    r.vms.get(2)!.doorbellId = 5;
    const ch = r.channel({ offset: 0n, length: LENGTH });
    r.router.route([
      { kind: 'send', vmId: 1, bytes: new Uint8Array([6]), grantFor: ch },
      { kind: 'revoke', vmId: 2, channelId: ch.channelId },
      { kind: 'peer-gone', vmId: 2, channelId: ch.channelId, reason: 'stop-offer' },
    ]);
    expect(r.sent).to.deep.equal([
      [1, { kind: 'handshake', message: new Uint8Array([6]), peerDoorbell: 5 }],
      [2, { kind: 'peerGone', channelId: ch.channelId, reason: 'stop-offer' }],
    ]);
    expect(r.revokes).to.deep.equal([[2, ch.channelId]]);
  });
});
