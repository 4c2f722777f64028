import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { LocalWaker } from '../notify/local-waker.js';
import { RingConsumer } from '../ring/ring-consumer.js';
import { ringViews } from '../ring/ring-views.js';
import { Channel } from './channel.js';
import { ServiceProvider } from './service-endpoints.js';

const Speed = new protobuf.Type('Speed').add(new protobuf.Field('kph', 1, 'uint32'));
new protobuf.Root().add(Speed);

/** A provider Channel on a heap window; the test reads what it sends with a bare ring end. */
function providerChannel(): { channel: Channel; toConsumer: RingConsumer } {
  const window = {
    shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(PAGE_SIZE))),
  };
  const channel = new Channel({
    window,
    role: 'provider',
    notify: 'event',
    ownWaker: new LocalWaker(),
  });
  return { channel, toConsumer: new RingConsumer(ringViews(window, 'p2c', PAGE_SIZE)) };
}

describe('EventPublisher', () => {
  for (const inPlace of [false, true]) {
    it(`should number its records' sessions 1, 2, 3 with the event's header (${inPlace ? 'in place' : 'copy'})`, async () => {
      const { channel, toConsumer } = providerChannel();
      const provider = new ServiceProvider(channel, { service: 0x1234, major: 3, client: 0 });
      const speed = provider.publisher<{ kph: number }>(0x8001, Speed, { inPlace });
      for (const kph of [10, 20, 30]) expect(speed.publish({ kph })).to.equal(true);
      const got: Array<{ session: number; kph: number }> = [];
      for (let r = toConsumer.receive(); r !== undefined; r = toConsumer.receive()) {
        expect(r.header).to.include({
          service: 0x1234,
          method: 0x8001,
          client: 0,
          interfaceVersion: 3,
          messageType: 0x02,
          returnCode: 0,
        });
        got.push({
          session: r.header.session,
          kph: (Speed.decode(r.payload) as never as { kph: number }).kph,
        });
        toConsumer.release();
      }
      expect(got).to.deep.equal([
        { session: 1, kph: 10 },
        { session: 2, kph: 20 },
        { session: 3, kph: 30 },
      ]);
      await channel.close();
    });
  }

  it('should keep the session of a waiting publish when more are published meanwhile', async () => {
    const { channel, toConsumer } = providerChannel();
    const provider = new ServiceProvider(channel, { service: 0x1234, major: 1, client: 0 });
    const speed = provider.publisher<{ kph: number }>(0x8001, Speed);
    let sent = 0;
    while (speed.publish({ kph: 1 })) sent++;
    const waiting = speed.publishWait({ kph: 2 }, 5000); // the ring is full: this one waits
    expect(speed.publish({ kph: 3 })).to.equal(false); // a later session, refused meanwhile
    for (let i = 0; i < sent; i++) {
      toConsumer.receive();
      toConsumer.release();
    }
    await waiting;
    const r = toConsumer.receive()!;
    expect(r.header.session).to.equal(sent + 2); // its own session, not the refused one's
    expect((Speed.decode(r.payload) as never as { kph: number }).kph).to.equal(2);
    toConsumer.release();
    await channel.close();
  });
});
