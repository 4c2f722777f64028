// ServicePublisher over real channels whose rings differ in size (as an elastic service's
// channels do once one of them moved to a larger window): a message is sized once, sent to the
// rings it fits, counted as dropped for the others, and refused before any ring when it fits none.
import { expect } from 'chai';
import protobuf from 'protobufjs';
import { PAGE_SIZE, RingPageLayout, windowLayout } from '@sivshm/abi';
import {
  Channel,
  EventPublisher,
  RingConsumer,
  ringViews,
  type Waker,
} from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';
import { ServicePublisher } from './offered-service.js';

const Blob = new protobuf.Type('Blob').add(new protobuf.Field('data', 1, 'bytes'));
new protobuf.Root().add(Blob);
const EVENT = 0x8001;

/** A doorbell nobody rings: the provider's receive loop sleeps in slices and is never woken. */
class QuietWaker implements Waker {
  readonly #waits = new Set<() => void>();
  wake(): void {}
  wait(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waits.delete(done);
        resolve(false);
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waits.add(done);
    });
  }
  close(): void {
    for (const done of [...this.#waits]) done();
  }
}

/** One consumer: the provider's Channel on a heap window with a `ringDataSize` ring, and its reader. */
interface Consumer {
  readonly channel: Channel;
  readonly reader: RingConsumer;
  /** The provider → consumer ring's `drops` word. */
  drops(): number;
  /** Payload lengths of the records waiting in the ring, taken out. */
  received(): number[];
}

function consumer(ringDataSize: number): Consumer {
  const bytes = windowLayout(PAGE_SIZE).windowLength(ringDataSize);
  const window = { shared: new Uint8Array(new SharedArrayBuffer(bytes)) };
  const channel = new Channel({
    window,
    role: 'provider',
    notify: 'event',
    ownWaker: new QuietWaker(),
  });
  const views = ringViews(window, 'p2c', ringDataSize);
  const reader = new RingConsumer(views);
  return {
    channel,
    reader,
    drops: () => Atomics.load(views.producerPage, RingPageLayout.producer.drops / 4),
    received: () => {
      const lengths: number[] = [];
      for (let r = reader.receive(); r !== undefined; r = reader.receive()) {
        lengths.push(r.payload.byteLength);
        reader.release();
      }
      return lengths;
    },
  };
}

/** A message whose encoded length is exactly `length` (field 1, a 2-byte length prefix). */
function blobOf(length: number): { data: Uint8Array } {
  const message = { data: new Uint8Array(length - 3) };
  expect(Blob.encode(message).finish().byteLength).to.equal(length);
  return message;
}

const lanes = [
  {
    lane: 'publish, in place',
    inPlace: true,
    send: (p: ServicePublisher<object>, n: number) => p.publish(blobOf(n)),
  },
  {
    lane: 'publish, copy lane',
    inPlace: false,
    send: (p: ServicePublisher<object>, n: number) => p.publish(blobOf(n)),
  },
  {
    lane: 'publishBytes',
    inPlace: true,
    send: (p: ServicePublisher<object>, n: number) =>
      p.publishBytes(Blob.encode(blobOf(n)).finish()),
  },
] as const;

describe('ServicePublisher with rings of different sizes', () => {
  for (const { lane, inPlace, send } of lanes) {
    describe(lane, () => {
      let small: Consumer;
      let large: Consumer;
      let publisher: ServicePublisher<object>;

      beforeEach(() => {
        publisher = new ServicePublisher<object>(
          'blob',
          { inPlace },
          { type: Blob, what: "event 'blob' of 'Blobs'" },
        );
        // The small ring first: the old loop threw there, before the large one got anything.
        small = consumer(4096);
        large = consumer(16 * 1024);
        for (const [id, c] of [
          [1n, small],
          [2n, large],
        ] as const) {
          const events = new EventPublisher<object>(
            c.channel,
            { service: 0x1234, major: 1, client: 0 },
            EVENT,
            Blob,
            { inPlace },
          );
          publisher.add(id, c.channel, events);
        }
      });

      afterEach(async () => {
        await Promise.all([small.channel.close(), large.channel.close()]);
      });

      it('should deliver a message to the rings it fits and count it as dropped for a smaller one', () => {
        const size = small.channel.maxPayload + 1; // 2033: past a 4 KiB ring, within 16 KiB
        expect(send(publisher, size)).to.equal(false);
        expect(large.received()).to.deep.equal([size]);
        expect(small.received()).to.deep.equal([]);
        expect({ dropped: publisher.dropped, tooLarge: publisher.tooLarge }).to.deep.equal({
          dropped: 1,
          tooLarge: 1,
        });
        expect(small.drops(), "the small ring's drops word (status, top)").to.equal(1);
        expect(large.drops()).to.equal(0);
        expect(send(publisher, 300)).to.equal(true);
        expect([small.received(), large.received()]).to.deep.equal([[300], [300]]);
      });

      it('should refuse a message larger than every ring with ERR_TOO_LARGE before any ring sees it', () => {
        const size = large.channel.maxPayload + 1;
        let refusal: unknown;
        try {
          send(publisher, size);
        } catch (e) {
          refusal = e;
        }
        expect(RuntimeError.is(refusal) && refusal.code, String(refusal)).to.equal('ERR_TOO_LARGE');
        expect((refusal as Error).message).to.equal(
          `event 'blob' of 'Blobs': a ${size}-byte payload is larger than any consumer's ring takes (at most ${large.channel.maxPayload} bytes, half a ring's data area less the 16-byte record header); nothing was sent: send smaller events, or raise the service's ringDataSize in services.yaml`,
        );
        expect([small.received(), large.received()]).to.deep.equal([[], []]);
        expect([publisher.dropped, small.drops(), large.drops()]).to.deep.equal([0, 0, 0]);
      });
    });
  }
});
