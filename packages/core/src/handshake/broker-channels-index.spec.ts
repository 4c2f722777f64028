// The broker's running per-VM byte totals and doorbell-vector counts (kept so that a handshake
// does not scan every channel) against the scans they replace, over random sequences of channel
// lifecycles: opens, closes, acknowledgements, refused receipts, links going and deadlines.
import { expect } from 'chai';
import fc from 'fast-check';
import { BrokerChannels } from './broker-channels.js';
import type { BrokerChannel } from './broker-types.js';

const VMS = [1, 2, 3];
const VECTORS = 4;

/** The scan `bytesHeld` used to be. */
function bytesHeldByScan(channels: BrokerChannels, vmId: number): bigint {
  let n = 0n;
  for (const h of channels.list()) if (h.channel.consumerVm === vmId) n += h.channel.window.length;
  for (const q of channels.quarantinedList())
    if (q.refusedBy === vmId) n += q.channel.window.length;
  return n;
}

/** The scan `pickDoorbellVector` used to be, over the active and closing channels. */
function vectorByScan(
  vectors: number,
  consumerVm: number,
  providerVm: number,
  live: readonly BrokerChannel[],
): number | undefined {
  if (vectors < 1) return undefined;
  const load = new Array<number>(vectors).fill(0);
  for (const c of live) {
    const v = c.doorbellVector;
    if (v === undefined || v >= vectors) continue;
    const vms = [c.consumerVm, c.providerVm];
    if (vms.includes(consumerVm) || vms.includes(providerVm)) load[v] = (load[v] ?? 0) + 1;
  }
  let best = 0;
  for (let v = 1; v < vectors; v++) if ((load[v] ?? 0) < (load[best] ?? 0)) best = v;
  return best;
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('open' as const),
    consumer: fc.constantFrom(...VMS),
    provider: fc.constantFrom(...VMS),
    pages: fc.integer({ min: 1, max: 8 }),
    vector: fc.option(fc.integer({ min: 0, max: VECTORS + 1 }), { nil: undefined }),
    pick: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('close' as const),
    at: fc.nat({ max: 3 }),
    vm: fc.constantFrom(...VMS),
  }),
  fc.record({
    kind: fc.constant('ack' as const),
    at: fc.nat({ max: 3 }),
    vm: fc.constantFrom(...VMS),
  }),
  fc.record({
    kind: fc.constant('refuse' as const),
    at: fc.nat({ max: 3 }),
    vm: fc.constantFrom(...VMS),
  }),
  fc.record({ kind: fc.constant('abort' as const), at: fc.nat({ max: 3 }) }),
  fc.record({ kind: fc.constant('gone' as const), vm: fc.constantFrom(...VMS) }),
  fc.record({ kind: fc.constant('link' as const), vm: fc.constantFrom(...VMS) }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 700 }) }),
);

describe('BrokerChannels running counts', () => {
  for (const outlives of [false, true]) {
    it(`should equal the scans they replace after every step (refused quarantine outlives links: ${outlives})`, () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 20, maxLength: 120, size: 'max' }), (ops) => {
          let now = 0n;
          const connected = new Set(VMS);
          const channels = new BrokerChannels({
            nowMs: () => now,
            revokeAckTimeoutMs: 500n,
            connected: (vm) => connected.has(vm),
            refusedQuarantineOutlivesLink: outlives,
          });
          const opened: BrokerChannel[] = [];
          let next = 1n;
          // Steps act on the last few channels opened, so that one channel often meets a close,
          // a refused receipt, acknowledgements and its holders going, in some order.
          const at = (i: number): BrokerChannel | undefined => opened[opened.length - 1 - i];
          for (const o of ops) {
            if (o.kind === 'open') {
              const live = channels.list().map((h) => h.channel);
              const picked = channels.pickDoorbellVector(VECTORS, o.consumer, o.provider);
              expect(picked).to.equal(vectorByScan(VECTORS, o.consumer, o.provider, live));
              const vector = o.pick ? picked : o.vector;
              const ch: BrokerChannel = {
                channelId: next,
                consumerVm: o.consumer,
                providerVm: o.provider,
                service: 1,
                instance: Number(next),
                major: 1,
                mode: 'plain',
                window: { offset: 0x10000n * next++, length: 0x1000n * BigInt(o.pages) },
                consumerSerial: 1n,
                providerSerial: 1n,
                ...(vector === undefined ? {} : { doorbellVector: vector }),
              };
              opened.push(ch);
              channels.activate(ch);
            } else if (o.kind === 'close') {
              const ch = at(o.at);
              if (ch !== undefined) channels.close(ch.channelId, 'closed-by-consumer', o.vm);
            } else if (o.kind === 'ack') {
              const ch = at(o.at);
              if (ch !== undefined) channels.revokeAcknowledged(o.vm, ch.channelId);
            } else if (o.kind === 'refuse') {
              const ch = at(o.at);
              if (ch !== undefined) channels.revokeReceiptRefused(o.vm, ch.channelId);
            } else if (o.kind === 'abort') {
              const ch = at(o.at);
              if (ch !== undefined && channels.get(ch.channelId) === undefined)
                channels.quarantineGranted(ch);
            } else if (o.kind === 'gone') {
              connected.delete(o.vm);
              channels.holderGone(o.vm);
            } else if (o.kind === 'link') {
              connected.add(o.vm);
            } else {
              now += BigInt(o.ms);
              channels.tick();
            }
            const live = channels.list().map((h) => h.channel);
            for (const vm of VMS) {
              expect(channels.bytesHeld(vm)).to.equal(bytesHeldByScan(channels, vm));
              for (const peer of VMS)
                for (const vectors of [0, 1, VECTORS])
                  expect(channels.pickDoorbellVector(vectors, vm, peer)).to.equal(
                    vectorByScan(vectors, vm, peer, live),
                  );
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});
