// Payloads are checked at the sender against their message type: a wrong type, an unknown
// field or an out-of-range number is ERR_BAD_PAYLOAD naming the field, and nothing reaches the
// ring. Both VMs run in this process over a real hostd: the provider's handler and the
// consumer's event stream see exactly what crossed the channel.
import { expect } from 'chai';
import { firstValueFrom, take, toArray } from 'rxjs';
import { RuntimeError, type Node, type OfferedService } from '../src/index.js';
import { setUpEachTest, waitFor } from './support/deployment.js';

type Speed = { kph: number; odometer_m: number; timestamp_ms: number };

/** The RuntimeError `p` rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<RuntimeError> {
  const e = await p.then(
    () => expect.fail('resolved'),
    (x: unknown) => x,
  );
  expect(RuntimeError.is(e), String(e)).to.equal(true);
  return e as RuntimeError;
}

describe('payload check at the sender (ERR_BAD_PAYLOAD)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest();
  let provider: Node;
  let svc: OfferedService;
  /** The odometer values the provider's `reset` handler received, in order. */
  let received: number[];
  /** What the handler answers; a test may make it answer a bad response. */
  let answer: (previous: number) => object;

  beforeEach(async () => {
    received = [];
    answer = (previous) => ({ previous_odometer_m: previous });
    provider = await rig.openNode({ vm: 'infotainment' });
    svc = await provider.offer('VehicleSpeed', {
      instance: 1,
      methods: {
        reset: (req: { odometer_m?: unknown }) => {
          received.push(Number(String(req.odometer_m ?? 0))); // uint64 arrives as a decimal string
          return answer(received.length);
        },
      },
    });
    await rig.openNode();
  });

  it("rejects { odometer_m: 'lots' }, { odometerm: 3 } and -1 in a uint64 before sending", async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const wrongType = await rejection(speed.call('reset', { odometer_m: 'lots' }));
    expect(wrongType.code).to.equal('ERR_BAD_PAYLOAD');
    expect(wrongType.message).to.equal(
      "request of 'reset' on 'VehicleSpeed' (sivshm.demo.ResetRequest): field 'odometer_m' must be a uint64 (a safe integer, a decimal string or a Long in 0..18446744073709551615), got the string 'lots'",
    );
    const unknown = await rejection(speed.call('reset', { odometerm: 3 }));
    expect(unknown.code).to.equal('ERR_BAD_PAYLOAD');
    expect(unknown.message).to.match(
      /ResetRequest has no field 'odometerm' \(did you mean 'odometer_m'\?\); its fields: odometer_m/,
    );
    const outOfRange = await rejection(speed.call('reset', { odometer_m: -1 }));
    expect(outOfRange.code).to.equal('ERR_BAD_PAYLOAD');
    // The ring is FIFO: the good call's answer means nothing sent before it is still on the way.
    await speed.call('reset', { odometer_m: 7 });
    expect(received).to.deep.equal([7]);
  });

  it('rejects a bad request while there is no channel, without waiting for one', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    await svc.withdraw();
    await waitFor(() => speed.status !== 'connected', 'the channel to end');
    const e = await rejection(speed.call('reset', { odometer_m: 'lots' }, { timeoutMs: 5000 }));
    expect(e.code).to.equal('ERR_BAD_PAYLOAD');
  });

  it('throws from publish for a bad event, which no consumer receives', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const events = firstValueFrom(speed.event<Speed>('speed').pipe(take(2), toArray()));
    const publisher = svc.publisher<Speed>('speed');
    await waitFor(() => publisher.consumers === 1, 'the consumer on the publisher');
    const bad = { kph: 'fast', odometer_m: 1, timestamp_ms: 1 } as unknown as Speed;
    expect(() => publisher.publish(bad)).to.throw(RuntimeError, /field 'kph' must be a float/);
    const extra = { kph: 1, odometer_m: 1, timestamp_ms: 1, gearr: 2 } as unknown as Speed;
    expect(() => publisher.publish(extra)).to.throw(/VehicleSpeed has no field 'gearr'/);
    expect(() => publisher.publish({ kph: 1, odometer_m: 1, timestamp_ms: 2 ** 32 })).to.throw(
      /field 'timestamp_ms' must be a uint32/,
    );
    // The stream may have started before the publisher's first record: retry until two land.
    const timer = setInterval(
      () => publisher.publish({ kph: 50, odometer_m: 2, timestamp_ms: 3 }),
      20,
    );
    try {
      const got = await events;
      for (const e of got) expect(e.kph).to.equal(50);
    } finally {
      clearInterval(timer);
    }
  });

  it("fails the call with the provider's bad response, reported on the provider's errors$", async () => {
    const problems: Error[] = [];
    svc.errors$.subscribe((e) => problems.push(e));
    answer = () => ({ previous_odometer_m: -1 });
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const e = await rejection(speed.call('reset', { odometer_m: 1 }));
    expect(e.code).to.equal('ERR_REMOTE');
    expect(e.message).to.match(/field 'previous_odometer_m' must be a uint64/);
    expect(problems.map((p) => (p as RuntimeError).code)).to.deep.equal(['ERR_BAD_PAYLOAD']);
    expect(problems[0]?.message).to.match(/^response of 'reset' on 'VehicleSpeed'/);
  });

  it('sends what the encoder makes of it with checkPayloads: false (the old behaviour)', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1, checkPayloads: false });
    await speed.call('reset', { odometerm: 3 });
    expect(received).to.deep.equal([0]); // the unknown field is dropped: the provider reads 0
  });
});
