// Node.offer's maxCallsInFlight end to end: a provider whose handler answers only when the test
// lets it runs at most that many calls at once on a consumer's channel; the calls past it fail
// at the caller with ERR_BUSY naming service and method, before the handler ran. Both VMs run
// in this process over a real hostd.
import { expect } from 'chai';
import { RuntimeError } from '../src/index.js';
import { readStatus, setUpEachTest } from './support/deployment.js';

const BOUND = 2;
const CALLS = 5;

describe('Node.offer maxCallsInFlight (real hostd, both VMs in this process)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest();

  it('should refuse the calls past the bound with ERR_BUSY and answer the others', async () => {
    const provider = await rig.openNode({ vm: 'infotainment' });
    const started: { odometer: string; answer: () => void }[] = [];
    const svc = await provider.offer('VehicleSpeed', {
      instance: 1,
      maxCallsInFlight: BOUND,
      methods: {
        reset: (r: { odometer_m?: string }) =>
          new Promise<object>((resolve) =>
            started.push({
              odometer: String(r.odometer_m ?? '0'),
              answer: () => resolve({ previous_odometer_m: r.odometer_m ?? '0' }),
            }),
          ),
      },
    });
    const consumer = await rig.openNode();
    const speed = await consumer.consume('VehicleSpeed', { instance: 1, timeoutMs: 20_000 });
    const outcomes = Array.from({ length: CALLS }, (_, i) =>
      speed.call('reset', { odometer_m: i + 1 }, { timeoutMs: 20_000 }).then(
        (a) => String((a as { previous_odometer_m?: string }).previous_odometer_m),
        (e: unknown) => e,
      ),
    );
    const refused = await Promise.all(outcomes.slice(BOUND));
    for (const e of refused) {
      expect(RuntimeError.is(e), String(e)).to.equal(true);
      expect((e as RuntimeError).code).to.equal('ERR_BUSY');
      expect((e as Error).message).to.match(
        /^call of 'reset' on 'VehicleSpeed'.*the provider is busy: 2 calls/,
      );
    }
    expect(started.map((s) => s.odometer)).to.deep.equal(['1', '2']);
    for (const s of started) s.answer();
    expect(await Promise.all(outcomes.slice(0, BOUND))).to.deep.equal(['1', '2']);
    // Visible where a user looks: the offer's count, and hostd's status (the channel's c2p ring
    // word the provider bumps on each refusal; `sivshm status` and `top` print it).
    expect(svc.callsRefused).to.equal(CALLS - BOUND);
    const channel = (await readStatus(rig.d)).channels.find((c) => c.state === 'ACTIVE')!;
    const rings = channel.rings as unknown as Record<'c2p' | 'p2c', { refused: number }>;
    expect([rings.c2p.refused, rings.p2c.refused]).to.deep.equal([CALLS - BOUND, 0]);
  });

  it('should refuse a maxCallsInFlight out of 1..65535 at offer', async () => {
    const provider = await rig.openNode({ vm: 'infotainment' });
    for (const bad of [0, 70_000, 2.5]) {
      const e = await provider
        .offer('VehicleSpeed', { instance: 1, maxCallsInFlight: bad })
        .catch((x: unknown) => x);
      expect(RuntimeError.is(e) && e.code, String(e)).to.equal('ERR_BAD_ARGUMENT');
      expect((e as Error).message).to.match(
        /maxCallsInFlight .* use a whole number from 1 to 65535/,
      );
    }
  });
});
