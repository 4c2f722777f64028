// 64-bit integers cross a real channel as decimal strings: what a provider's handler receives,
// what a call answers, what event() and samples() deliver — exact past 2^53 — whatever the
// sender gave (a decimal string or a safe-integer number). Both VMs run in this process over a
// real hostd. An absent 64-bit field reads '0' and is not an own key (proto3 default).
import { expect } from 'chai';
import { firstValueFrom, map, take } from 'rxjs';
import type { Node, OfferedService } from '../src/index.js';
import { setUpEachTest, waitFor } from './support/deployment.js';

const MAX_U64 = '18446744073709551615';
type Speed = { kph?: number; odometer_m?: string | number; timestamp_ms?: number };

describe('64-bit integers across a channel (decimal strings)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest();
  let provider: Node;
  let svc: OfferedService;
  /** What the provider's `reset` handler received. */
  let requests: Record<string, unknown>[];

  beforeEach(async () => {
    requests = [];
    provider = await rig.openNode({ vm: 'infotainment' });
    svc = await provider.offer('VehicleSpeed', {
      instance: 1,
      methods: {
        reset: (req: Record<string, unknown>) => {
          requests.push(req);
          return { previous_odometer_m: req['odometer_m'] }; // sent back as it came
        },
      },
    });
    await rig.openNode();
  });

  it('gives handler and caller exact decimal strings for strings and numbers sent', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const answers: unknown[] = [];
    for (const sent of [MAX_U64, '9007199254740993', 42, 0]) {
      const r = (await speed.call('reset', { odometer_m: sent })) as Record<string, unknown>;
      answers.push(r['previous_odometer_m']);
    }
    expect(requests.map((r) => r['odometer_m'])).to.deep.equal([
      MAX_U64,
      '9007199254740993',
      '42',
      '0', // not on the wire (proto3 default): read from the prototype
    ]);
    expect(Object.keys(requests[3] as object)).to.deep.equal([]);
    expect(answers).to.deep.equal([MAX_U64, '9007199254740993', '42', '0']);
  });

  /** Publishes MAX_U64 until `got` settles (the stream may start after the first record). */
  async function publishedInto<T>(got: Promise<T>): Promise<T> {
    const publisher = svc.publisher<Speed>('speed');
    await waitFor(() => publisher.consumers === 1, 'the consumer on the publisher');
    const timer = setInterval(() => publisher.publish({ kph: 1, odometer_m: MAX_U64 }), 20);
    try {
      return await got;
    } finally {
      clearInterval(timer);
    }
  }

  it('delivers events with the exact string, JSON-ready', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const got = await publishedInto(firstValueFrom(speed.event<Speed>('speed').pipe(take(1))));
    expect(got.odometer_m).to.equal(MAX_U64);
    expect(JSON.parse(JSON.stringify(got))).to.deep.equal({ kph: 1, odometer_m: MAX_U64 });
  });

  it('delivers samples (the zero-copy lane) with the same string', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const odometer = speed.samples<Speed>('speed').pipe(
      take(1),
      map((s) => {
        const value = s.message.odometer_m;
        s.release();
        return value;
      }),
    );
    expect(await publishedInto(firstValueFrom(odometer))).to.equal(MAX_U64);
  });
});
