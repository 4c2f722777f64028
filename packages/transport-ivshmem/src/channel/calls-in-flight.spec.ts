// The provider's bound on method calls running at once on one channel: past it a request is
// refused before its handler runs (E_NOT_READY, the caller's ERR_BUSY) and counted; the
// accepted ones run in the order sent and each gets its own answer. Real rings in a shared
// window, real wakers, both ends in this process.
import { expect } from 'chai';
import { PAGE_SIZE, RingPageLayout, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { LocalWaker } from '../notify/local-waker.js';
import { DEFAULT_MAX_CALLS_IN_FLIGHT } from './calls-in-flight.js';
import { Channel } from './channel.js';
import { ServiceConsumer, ServiceProvider } from './service-endpoints.js';

const root = protobuf.parse('syntax = "proto3"; package b; message N { uint32 n = 1; }').root;
const N = root.lookupType('b.N');
interface Nmsg {
  n: number;
}
const ADDRESS = { service: 0x4322, major: 1, client: 3 };
const METHOD = 0x0001;

/** The c2p ring's consumer page `refused` word of `window`, as a monitor reads it. */
function refusedWord(window: { shared: Uint8Array }): number {
  const words = new Uint32Array(window.shared.buffer, window.shared.byteOffset + PAGE_SIZE, 128);
  return Atomics.load(words, RingPageLayout.consumer.refused / 4);
}

function pair(): { provider: Channel; consumer: Channel; window: { shared: Uint8Array } } {
  const window = {
    shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(PAGE_SIZE))),
  };
  const bells = [new SharedArrayBuffer(4), new SharedArrayBuffer(4)] as const;
  const side = (role: 'provider' | 'consumer', own: number): Channel =>
    new Channel({
      window,
      role,
      notify: 'event',
      ownWaker: new LocalWaker(bells[own]),
      peerWaker: new LocalWaker(bells[1 - own]),
    });
  return { provider: side('provider', 0), consumer: side('consumer', 1), window };
}

/** How one call ended: its answer's n, or its error's code. */
const outcome = (p: Promise<Nmsg>): Promise<number | string> =>
  p.then(
    (a) => a.n,
    (e: unknown) => (e instanceof TransportError ? e.code : String(e)),
  );

async function until(what: string, ok: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ServiceProvider: calls in flight', function () {
  this.timeout(20_000);
  let ends: ReturnType<typeof pair>;
  let p: ServiceProvider | undefined;
  let c: ServiceConsumer;

  beforeEach(() => {
    ends = pair();
    c = new ServiceConsumer(ends.consumer, ADDRESS);
  });

  afterEach(async () => {
    c.close();
    p?.close();
    await ends.consumer.close();
    await ends.provider.close();
  });

  it('should refuse exactly the calls past the bound with ERR_BUSY, and answer every accepted one in order', async () => {
    const BOUND = 4;
    const EXCESS = 3;
    p = new ServiceProvider(ends.provider, ADDRESS, { maxCallsInFlight: BOUND });
    const started: { n: number; finish: () => void }[] = [];
    p.serve<Nmsg, Nmsg>(
      METHOD,
      N,
      N,
      (r) =>
        new Promise((resolve) => started.push({ n: r.n, finish: () => resolve({ n: r.n * 10 }) })),
    );
    const calls = Array.from({ length: BOUND + EXCESS }, (_, n) =>
      outcome(c.call<Nmsg, Nmsg>(METHOD, N, N, { n }, { timeoutMs: 10_000 })),
    );
    const refused = await Promise.all(calls.slice(BOUND));
    expect(refused).to.deep.equal(Array(EXCESS).fill('ERR_BUSY'));
    expect(p.calls).to.deep.equal({ running: BOUND, refused: EXCESS, max: BOUND });
    // The handler ran for the first BOUND requests only, in the order they were sent.
    expect(started.map((s) => s.n)).to.deep.equal([0, 1, 2, 3]);
    // Settled last-first: each answer still reaches its own caller.
    for (const s of [...started].reverse()) s.finish();
    expect(await Promise.all(calls.slice(0, BOUND))).to.deep.equal([0, 10, 20, 30]);
    await until('the calls to settle at the provider', () => p!.calls.running === 0);
    // The bound is free again: the next call runs.
    const again = outcome(c.call<Nmsg, Nmsg>(METHOD, N, N, { n: 7 }, { timeoutMs: 10_000 }));
    await until('the next call to start', () => started.length === BOUND + 1);
    started[BOUND]!.finish();
    expect(await again).to.equal(70);
    expect(p.calls.refused).to.equal(EXCESS);
  });

  it("should count one-way requests refused past the bound in the ring's refused word, where monitors read it", async () => {
    p = new ServiceProvider(ends.provider, ADDRESS, { maxCallsInFlight: 1 });
    const started: (() => void)[] = [];
    p.serve<Nmsg, Nmsg>(
      METHOD,
      N,
      N,
      (r) => new Promise((resolve) => started.push(() => resolve({ n: r.n }))),
    );
    for (let n = 0; n < 5; n++) await c.fire<Nmsg>(METHOD, N, { n });
    // The first runs and holds the bound; the other four are refused with no answer to carry it.
    await until('the four refusals', () => p!.calls.refused === 4);
    expect(refusedWord(ends.window)).to.equal(4);
    for (const finish of started) finish();
  });

  it('should count a handler that throws or rejects as settled', async () => {
    p = new ServiceProvider(ends.provider, ADDRESS, { maxCallsInFlight: 1 });
    let k = 0;
    p.serve<Nmsg, Nmsg>(METHOD, N, N, () => {
      if (k++ % 2 === 0) throw new Error('thrown');
      return Promise.reject(new Error('rejected'));
    });
    for (let n = 0; n < 6; n++) {
      expect(
        await outcome(c.call<Nmsg, Nmsg>(METHOD, N, N, { n }, { timeoutMs: 10_000 })),
      ).to.equal('ERR_REMOTE');
    }
    await until('the last rejection to settle', () => p!.calls.running === 0);
    expect(p.calls.refused).to.equal(0);
  });

  it('should never refuse synchronous handlers, however many calls are pending', async () => {
    p = new ServiceProvider(ends.provider, ADDRESS, { maxCallsInFlight: 1 });
    p.serve<Nmsg, Nmsg>(METHOD, N, N, (r) => ({ n: r.n + 1 }));
    const calls = Array.from({ length: 40 }, (_, n) =>
      outcome(c.call<Nmsg, Nmsg>(METHOD, N, N, { n }, { timeoutMs: 10_000 })),
    );
    expect(await Promise.all(calls)).to.deep.equal(calls.map((_, n) => n + 1));
    expect(p.calls).to.deep.equal({ running: 0, refused: 0, max: 1 });
  });

  it('should default to DEFAULT_MAX_CALLS_IN_FLIGHT and refuse a bound out of 1..65535', () => {
    p = new ServiceProvider(ends.provider, ADDRESS);
    expect(p.calls.max).to.equal(DEFAULT_MAX_CALLS_IN_FLIGHT);
    for (const bad of [0, -1, 1.5, 65_536, Number.NaN]) {
      expect(() => new ServiceProvider(ends.provider, ADDRESS, { maxCallsInFlight: bad }))
        .to.throw(
          TransportError,
          /maxCallsInFlight .* is not allowed: use a whole number from 1 to 65535/,
        )
        .with.property('code', 'ERR_BAD_ARGUMENT');
    }
  });
});
