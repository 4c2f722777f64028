import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { firstValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { TransportError } from '../errors/transport-error.js';
import { LocalWaker } from '../notify/local-waker.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews } from '../ring/ring-views.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { Channel, dispatchKey } from './channel.js';
import { ServiceConsumer } from './service-endpoints.js';

const Speed = new protobuf.Type('Speed').add(new protobuf.Field('kph', 1, 'uint32'));
new protobuf.Root().add(Speed);
const EVENT = 0x8001;

/** A consumer Channel on a heap window; the test plays the provider with a bare ring end. */
function consumerChannel(): { channel: Channel; toConsumer: RingProducer; bell: LocalWaker } {
  const window = {
    shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(PAGE_SIZE))),
  };
  const bell = new LocalWaker();
  const channel = new Channel({ window, role: 'consumer', notify: 'event', ownWaker: bell });
  return { channel, toConsumer: new RingProducer(ringViews(window, 'p2c', PAGE_SIZE)), bell };
}

function eventHeader(session: number): SomeIpHeader {
  return {
    service: 0x1234,
    method: EVENT,
    client: 0,
    session,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
  };
}

/** A payload protobufjs refuses: field 1 with wire type 7, which does not exist. */
const UNDECODABLE = Uint8Array.of(0x0f, 0xff, 0xff);

describe('ServiceConsumer', () => {
  for (const lane of ['event', 'samples'] as const) {
    it(`should skip an undecodable ${lane} record, report it on errors$ and keep delivering`, async () => {
      const { channel, toConsumer, bell } = consumerChannel();
      const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 7 });
      try {
        // The samples lane delivers the next record only after release: take the value, release.
        const stream: Observable<number> =
          lane === 'event'
            ? consumer.event<{ kph: number }>(EVENT, Speed).pipe(map((m) => m.kph))
            : consumer.samples<{ kph: number }>(EVENT, Speed).pipe(
                map((sample) => {
                  const kph = sample.message.kph;
                  sample.release();
                  return kph;
                }),
              );
        const errors = firstValueFrom(consumer.errors$.pipe(take(1)));
        const got = firstValueFrom(stream.pipe(take(20), toArray()));
        toConsumer.sendCopy(eventHeader(1), UNDECODABLE);
        for (let i = 0; i < 20; i++) {
          toConsumer.sendCopy(eventHeader(i + 2), Speed.encode({ kph: i }).finish());
        }
        bell.wake();
        const values = await got;
        expect(values).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
        const e = await errors;
        expect(TransportError.is(e) && e.code).to.equal('ERR_DECODE');
        expect(e.message).to.match(/event 0x8001 record \(session 1\) does not decode as \.?Speed/);
        expect(consumer.undecodableEvents).to.equal(1);
      } finally {
        consumer.close();
        await channel.close();
      }
    });
  }

  it('should let a new subscriber of the event stream receive after a bad record', async () => {
    const { channel, toConsumer, bell } = consumerChannel();
    const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 7 });
    try {
      const first = firstValueFrom(consumer.event<{ kph: number }>(EVENT, Speed).pipe(take(1)));
      toConsumer.sendCopy(eventHeader(1), UNDECODABLE);
      toConsumer.sendCopy(eventHeader(2), Speed.encode({ kph: 5 }).finish());
      bell.wake();
      expect((await first).kph).to.equal(5);
      const again = firstValueFrom(consumer.event<{ kph: number }>(EVENT, Speed).pipe(take(1)));
      toConsumer.sendCopy(eventHeader(3), Speed.encode({ kph: 6 }).finish());
      bell.wake();
      expect((await again).kph).to.equal(6);
    } finally {
      consumer.close();
      await channel.close();
    }
  });

  it('should reject a call with what its mapError threw, and refuse a mapError that is no function', async () => {
    const { channel } = consumerChannel();
    const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 7 });
    try {
      // No provider answers: the call ends by its deadline, in the sweeper's timer.
      const broken = (): Error => {
        throw new Error('mapper broke');
      };
      const timedOut = await consumer
        .call(1, Speed, Speed, { kph: 1 }, { timeoutMs: 20, mapError: broken })
        .catch((e: unknown) => e);
      expect((timedOut as Error).message).to.equal('mapper broke');
      const notAFunction = { timeoutMs: 20, mapError: 'x' as unknown as (e: unknown) => Error };
      const refused = await consumer
        .call(1, Speed, Speed, { kph: 1 }, notAFunction)
        .catch((e: unknown) => e);
      expect(TransportError.is(refused) && refused.code).to.equal('ERR_BAD_ARGUMENT');
      expect((refused as Error).message).to.match(/mapError must be a function, got string/);
    } finally {
      consumer.close();
      await channel.close();
    }
  });

  describe('eventBytes', () => {
    it('should hand out a copy of each payload, and refuse an id that is not an event id', async () => {
      const { channel, toConsumer, bell } = consumerChannel();
      const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 7 });
      try {
        const got = firstValueFrom(consumer.eventBytes(EVENT).pipe(take(2), toArray()));
        toConsumer.sendCopy(eventHeader(1), Speed.encode({ kph: 1 }).finish());
        toConsumer.sendCopy(eventHeader(2), UNDECODABLE); // not decoded, so not refused
        bell.wake();
        const [first, second] = await got;
        expect(Speed.decode(first!).toJSON()).to.deep.equal({ kph: 1 });
        expect([...second!]).to.deep.equal([...UNDECODABLE]);
        // Copies, not views of the ring (whose memory is a SharedArrayBuffer).
        expect(first!.buffer).to.not.be.instanceOf(SharedArrayBuffer);
        expect(() => consumer.eventBytes(0x0001)).to.throw(
          TransportError,
          /event id 0x1 is not in 0x8000\.\.0xFFFE/,
        );
      } finally {
        consumer.close();
        await channel.close();
      }
    });

    it('should end the stream and give the event back to the channel when the consumer closes', async () => {
      const { channel } = consumerChannel();
      const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 7 });
      try {
        let completed = false;
        consumer.eventBytes(EVENT).subscribe({ complete: () => (completed = true) });
        consumer.close();
        expect(completed).to.equal(true);
        // A handler left behind would still hold the event's dispatch key.
        const off = channel.on(dispatchKey(0x02, EVENT), () => undefined);
        off();
        let after = false;
        consumer.eventBytes(EVENT).subscribe({ complete: () => (after = true) });
        expect(after, 'a closed consumer registers nothing').to.equal(true);
        expect(() => channel.on(dispatchKey(0x02, EVENT), () => undefined)).to.not.throw();
      } finally {
        consumer.close();
        await channel.close();
      }
    });

    it('should refuse a second lane of the same event naming the event and the lane that has it', async () => {
      const { channel } = consumerChannel();
      const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 7 });
      try {
        consumer.event(EVENT, Speed);
        expect(() => consumer.eventBytes(EVENT)).to.throw(
          TransportError,
          /^event 0x8001 of service 0x1234 is already taken on this channel by event\(\), so eventBytes\(\) cannot have it/,
        );
        consumer.eventBytes(EVENT + 1);
        expect(consumer.eventBytes(EVENT + 1)).to.equal(consumer.eventBytes(EVENT + 1));
        expect(() => consumer.samples(EVENT + 1, Speed)).to.throw(
          TransportError,
          /event 0x8002 .* by eventBytes\(\), so samples\(\) cannot have it/,
        );
        expect(() => consumer.event(EVENT + 1, Speed)).to.throw(
          TransportError,
          /by eventBytes\(\)/,
        );
      } finally {
        consumer.close();
        await channel.close();
      }
    });
  });
});
