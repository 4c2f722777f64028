import { expect } from 'chai';
import fc from 'fast-check';
import { config } from 'rxjs';
import { sdMessage } from '../../test/support/arbitraries.js';
import { SdHarness } from '../../test/support/sd-harness.js';
import { endpointOption } from '../wire/endpoint-option.js';
import { checkSdMessage } from '../wire/sd-checks.js';
import { decodeSdMessage, encodeSdMessage, type SdMessage } from '../wire/sd-message.js';

/** Valid messages, most entries aimed at the node's own service ids so that they matter. */
const aimed = sdMessage.map((m): SdMessage => ({
  ...m,
  entries: m.entries.map((e) =>
    e.serviceId % 4 === 3
      ? e
      : {
          ...e,
          serviceId: e.serviceId % 2 === 0 ? 0x1234 : 0x4321,
          instanceId: e.type === 'find' && e.instanceId % 2 === 0 ? 0xffff : 1,
          majorVersion: 1,
          ...('eventgroupId' in e ? { eventgroupId: 1 } : {}),
        },
  ),
}));

/** What a hostile or broken peer may send: valid messages, and valid ones with bytes changed. */
const peerBytes = fc.oneof(
  aimed.map((m) => encodeSdMessage(m)),
  fc
    .tuple(aimed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
    .map(([m, edits]) => {
      const b = encodeSdMessage(m).slice();
      for (const [at, v] of edits) b[at % b.length] = v;
      return b;
    }),
);

describe('SdAgent (property-based)', function () {
  this.timeout(60_000);

  describe('.receive', () => {
    it('should survive any sequence of peer messages and only ever send conforming SD', async () => {
      const unhandled: unknown[] = [];
      const previous = config.onUnhandledError;
      let sent = 0;
      config.onUnhandledError = (e) => unhandled.push(e);
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(peerBytes, fc.boolean(), fc.integer({ min: 0, max: 2000 })), {
              minLength: 1,
              maxLength: 25,
            }),
            async (script) => {
              const h = new SdHarness();
              const a = h.agent('10.0.0.1');
              const offered = a.offer({
                serviceId: 0x1234,
                instanceId: 1,
                majorVersion: 1,
                minorVersion: 0,
                endpoints: [endpointOption('10.0.0.1', 'udp', 30501)],
              });
              a.find({ serviceId: 0x4321 }).subscribe();
              a.subscribe({
                serviceId: 0x4321,
                instanceId: 1,
                majorVersion: 1,
                eventgroupId: 1,
                endpoints: [endpointOption('10.0.0.1', 'udp', 40000)],
              }).subscribe();
              const peer = h.raw('10.0.0.2');
              for (const [bytes, unicast, wait] of script) {
                await peer.send(bytes, unicast ? { address: '10.0.0.1', port: 30490 } : undefined);
                await h.clock.advance(wait);
              }
              await h.clock.advance(100);
              await offered;
              await h.stopAll();
              sent += h.net.captured.filter((x) => x.from.address === '10.0.0.1').length;
              for (const c of h.net.captured.filter((x) => x.from.address === '10.0.0.1'))
                expect(checkSdMessage(decodeSdMessage(c.bytes))).to.deep.equal([]);
              expect(unhandled).to.deep.equal([]);
            },
          ),
          { numRuns: 100 },
        );
        // The node answered (Offers to Finds, Acks/Nacks, Subscribes), not just announced.
        expect(sent).to.be.greaterThan(100 * 5);
      } finally {
        config.onUnhandledError = previous;
      }
    });
  });
});
