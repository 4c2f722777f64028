import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { LocalWaker } from '../notify/local-waker.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews } from '../ring/ring-views.js';
import type { Sample } from '../protobuf/sample.js';
import { Channel } from './channel.js';
import { ServiceConsumer } from './service-endpoints.js';

const Speed = new protobuf.Type('Speed').add(new protobuf.Field('kph', 1, 'uint32'));
const Empty = new protobuf.Type('Empty');
new protobuf.Root().add(Speed).add(Empty);
const EVENT = 0x8001;
const METHOD = 0x0001;
/** More calls than a one-page request ring holds: the rest find it full. */
const CALLS = 1000;

/**
 * A consumer on a heap window whose provider (this test) never takes a request: the request
 * ring fills after a few hundred calls. The provider end can still send the consumer events.
 */
function stalledProvider(): {
  channel: Channel;
  consumer: ServiceConsumer;
  toConsumer: RingProducer;
  bell: LocalWaker;
} {
  const window = {
    shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(PAGE_SIZE))),
  };
  const bell = new LocalWaker();
  const channel = new Channel({
    window,
    role: 'consumer',
    notify: 'event',
    ownWaker: bell,
    peerTimeoutMs: 60_000, // the stand-in provider never beats: this is about the request ring
  });
  const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 7 });
  return {
    channel,
    consumer,
    toConsumer: new RingProducer(ringViews(window, 'p2c', PAGE_SIZE)),
    bell,
  };
}

/** The slowest ERR_BUSY of the last `callMany`, ms after the calls were made. */
let slowestBusyMs = 0;

/** `CALLS` calls at once; each settles to its error, or 'answered'. */
function callMany(consumer: ServiceConsumer, timeoutMs: number): Promise<(string | Error)[]> {
  const t0 = performance.now();
  slowestBusyMs = 0;
  return Promise.all(
    Array.from({ length: CALLS }, () =>
      consumer.call(METHOD, Empty, Empty, {}, { timeoutMs }).then(
        () => 'answered',
        (e: unknown) => {
          if (TransportError.is(e) && e.code === 'ERR_BUSY')
            slowestBusyMs = Math.max(slowestBusyMs, performance.now() - t0);
          return e as Error;
        },
      ),
    ),
  );
}

const codeOf = (e: string | Error): string =>
  typeof e === 'string' ? e : TransportError.is(e) ? e.code : String(e);

describe('ServiceConsumer calls under back-pressure (ERR_BUSY)', () => {
  it('should fail a call at once with ERR_BUSY, naming method and service, when the request ring is full and the channel holds an unreleased Sample', async function () {
    this.timeout(10_000);
    const { channel, consumer, toConsumer, bell } = stalledProvider();
    let held: Sample<{ kph: number }> | undefined;
    const sub = consumer.samples<{ kph: number }>(EVENT, Speed).subscribe((s) => (held = s));
    try {
      toConsumer.sendCopy(
        {
          service: 0x1234,
          method: EVENT,
          client: 0,
          session: 1,
          interfaceVersion: 1,
          messageType: 0x02,
          returnCode: 0,
        },
        Speed.encode({ kph: 1 }).finish(),
      );
      bell.wake();
      for (let i = 0; i < 200 && held === undefined; i++)
        await new Promise((r) => setTimeout(r, 5));
      expect(held, 'a sample is held').to.not.equal(undefined);
      expect(channel.receiveHeld).to.equal(true);
      // Calls that fit wait for their answer (5 s); the others must not wait at all.
      const sentOrBusy = callMany(consumer, 5000);
      const busy = await Promise.race([
        sentOrBusy,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000)),
      ]);
      // Not every call settled within 1 s (those in the ring wait for answers), so look at the
      // ones that did: close() settles the rest below.
      expect(busy, 'some calls still wait for answers').to.equal(undefined);
      consumer.close();
      const outcomes = await sentOrBusy;
      const codes = outcomes.map(codeOf);
      const busyCount = codes.filter((c) => c === 'ERR_BUSY').length;
      console.log(
        `      [measured] ${CALLS} calls on a full request ring, sample held: ${busyCount} ERR_BUSY, ${codes.filter((c) => c === 'ERR_CLOSED').length} sent (closed unanswered); slowest ERR_BUSY after ${slowestBusyMs.toFixed(1)} ms`,
      );
      expect(busyCount, 'calls refused with ERR_BUSY').to.be.at.least(CALLS / 2);
      // At once: far inside the calls' own 5 s bound (before, they waited it out).
      expect(slowestBusyMs, 'slowest ERR_BUSY, ms').to.be.below(500);
      expect(codes.filter((c) => c !== 'ERR_BUSY' && c !== 'ERR_CLOSED')).to.deep.equal([]);
      const e = outcomes.find((o) => codeOf(o) === 'ERR_BUSY') as Error;
      expect(e.message).to.match(
        /method 0x1 of service 0x1234 was not called: .*holds a received record \(a Sample not released\).*release samples/,
      );
    } finally {
      sub.unsubscribe();
      held?.release();
      consumer.close();
      await channel.close();
    }
  });

  it('should fail a call whose request never got into the ring with ERR_BUSY once its bound passed, and one that got in but was not answered with ERR_TIMEOUT', async function () {
    this.timeout(10_000);
    const { channel, consumer } = stalledProvider();
    try {
      const t0 = performance.now();
      const outcomes = await callMany(consumer, 300);
      const ms = performance.now() - t0;
      const codes = outcomes.map(codeOf);
      const count = (c: string): number => codes.filter((x) => x === c).length;
      console.log(
        `      [measured] ${CALLS} calls, provider taking none: ${count('ERR_TIMEOUT')} ERR_TIMEOUT (sent), ${count('ERR_BUSY')} ERR_BUSY (not sent), ${ms.toFixed(0)} ms`,
      );
      expect(count('ERR_TIMEOUT'), 'sent, not answered').to.be.at.least(1);
      expect(count('ERR_BUSY'), 'never sent').to.be.at.least(1);
      expect(count('ERR_TIMEOUT') + count('ERR_BUSY')).to.equal(CALLS);
      const e = outcomes.find((o) => codeOf(o) === 'ERR_BUSY') as Error;
      expect(e.message).to.match(
        /method 0x1 of service 0x1234 was not called: the provider took no request within 300 ms .*nothing was executed, retry later/,
      );
    } finally {
      consumer.close();
      await channel.close();
    }
  });
});
