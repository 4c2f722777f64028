// The raw-bytes event path (src/service/event-bytes.ts): eventBytes() hands out an event's
// payload bytes exactly as the provider's encoder wrote them, and publishBytes() sends encoded
// bytes that decode as the event's type and refuses, before any ring, bytes that do not. Both
// VMs run in this process over a real hostd.
import { expect } from 'chai';
import { firstValueFrom, take, toArray } from 'rxjs';
import { loadConfig } from '@sivshm/core';
import { RuntimeError, type Node, type OfferedService } from '../src/index.js';
import { setUpEachTest, waitFor } from './support/deployment.js';

type Speed = { kph: number; odometer_m: string; timestamp_ms: number };

describe('raw-bytes event path (eventBytes, publishBytes)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest();
  let provider: Node;
  let svc: OfferedService;
  let encode: (s: Speed) => Uint8Array;

  beforeEach(async () => {
    const config = await loadConfig(rig.d.configPath);
    const type = config.protoRoot.lookupType('sivshm.demo.VehicleSpeed');
    encode = (s) => type.encode(s).finish();
    provider = await rig.openNode({ vm: 'infotainment' });
    svc = await provider.offer('VehicleSpeed', { instance: 1, methods: { reset: () => ({}) } });
    await rig.openNode();
  });

  it('eventBytes delivers the encoded payload of each published event, byte for byte', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const got = firstValueFrom(speed.eventBytes('speed').pipe(take(2), toArray()));
    const publisher = svc.publisher<Speed>('speed');
    await waitFor(() => publisher.consumers === 1, 'the consumer on the publisher');
    const a: Speed = { kph: 88, odometer_m: '12345678901', timestamp_ms: 1 };
    const b: Speed = { kph: 0, odometer_m: '0', timestamp_ms: 2 };
    publisher.publish(a);
    publisher.publish(b);
    const bytes = await got;
    expect(bytes.map((x) => Buffer.from(x).toString('hex'))).to.deep.equal(
      [a, b].map((x) => Buffer.from(encode(x)).toString('hex')),
    );
  });

  it('publishBytes sends encoded bytes that event() decodes, and refuses bytes that do not decode', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const events = firstValueFrom(speed.event<Speed>('speed').pipe(take(2), toArray()));
    const publisher = svc.publisher<Speed>('speed');
    await waitFor(() => publisher.consumers === 1, 'the consumer on the publisher');
    // Field 1 (timestamp_ms, a varint) announced with wire type 2 and a length past the end: not a VehicleSpeed.
    const junk = Uint8Array.from([0x0a, 0x7f, 0x01]);
    let refusal: unknown;
    try {
      publisher.publishBytes(junk);
    } catch (e) {
      refusal = e;
    }
    expect(RuntimeError.is(refusal), String(refusal)).to.equal(true);
    expect((refusal as RuntimeError).code).to.equal('ERR_BAD_PAYLOAD');
    expect((refusal as RuntimeError).message).to.match(
      /^event 'speed' of 'VehicleSpeed': 3 bytes do not decode as sivshm\.demo\.VehicleSpeed \(.+\); nothing was sent$/,
    );
    expect(publisher.publishBytes(encode({ kph: 7, odometer_m: '70', timestamp_ms: 1 }))).to.equal(
      true,
    );
    expect(publisher.publishBytes(encode({ kph: 8, odometer_m: '80', timestamp_ms: 2 }))).to.equal(
      true,
    );
    // The ring is FIFO: the two good events arriving first means the junk never entered it.
    expect((await events).map((e) => e.kph)).to.deep.equal([7, 8]);
  });

  it('refuses eventBytes beside event() of the same event on a channel, naming the event (the stream errors, the node lives)', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const publisher = svc.publisher<Speed>('speed');
    const first = firstValueFrom(speed.event<Speed>('speed').pipe(take(1)));
    await waitFor(() => publisher.consumers === 1, 'the consumer on the publisher');
    publisher.publish({ kph: 1, odometer_m: '1', timestamp_ms: 1 });
    expect((await first).kph).to.equal(1);
    const kept = speed.event<Speed>('speed').subscribe(); // event() keeps the lane
    try {
      const refusal = await firstValueFrom(speed.eventBytes('speed')).catch((e: unknown) => e);
      expect(RuntimeError.is(refusal), String(refusal)).to.equal(true);
      expect((refusal as RuntimeError).code).to.equal('ERR_BAD_ARGUMENT');
      expect((refusal as RuntimeError).message).to.match(
        /^event 'speed' of 'VehicleSpeed': event 0x[0-9a-f]+ of service 0x[0-9a-f]+ is already taken on this channel by event\(\), so eventBytes\(\) cannot have it/,
      );
      const again = firstValueFrom(speed.event<Speed>('speed').pipe(take(1)));
      publisher.publish({ kph: 2, odometer_m: '2', timestamp_ms: 2 });
      expect((await again).kph).to.equal(2);
    } finally {
      kept.unsubscribe();
    }
  });
});
