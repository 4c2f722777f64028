// The records word of a ring's producer page: the producer counts every record it publishes
// (one plain store per send, beside the index store), for monitors such as hostd's status and
// metrics; a producer re-attaching continues the count, and it wraps like the index. Beside it,
// the drops word (events a publisher gave up on, ring full) and the consumer page's notify word.
import { expect } from 'chai';
import { notifyModeName, RingPageLayout, WindowLayout } from '@sivshm/abi';
import { RingConsumer } from './ring-consumer.js';
import { RingProducer } from './ring-producer.js';
import { ringViews, windowOf, type RingViews } from './ring-views.js';

const DATA = 16384;
const P_RECORDS = RingPageLayout.producer.records / 4;
const P_DROPS = RingPageLayout.producer.drops / 4;
const C_NOTIFY = RingPageLayout.consumer.notify / 4;

function views(): RingViews {
  const len = WindowLayout.windowLength(DATA);
  return ringViews(
    windowOf({ shared: new Uint8Array(new SharedArrayBuffer(len)) }, 0, len),
    'c2p',
    DATA,
  );
}

const header = {
  service: 0x1234,
  method: 0x8001,
  client: 0,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};
const records = (v: RingViews): number => Atomics.load(v.words, v.producerWord + P_RECORDS);

describe('RingProducer records word', () => {
  it('should count every record published, copied or staged in a batch, and none staged only', () => {
    const v = views();
    const p = new RingProducer(v);
    for (let i = 0; i < 5; i++) expect(p.sendCopy(header, new Uint8Array(i))).to.equal(true);
    expect(records(v)).to.equal(5);
    for (let i = 0; i < 3; i++) {
      const slot = p.loan(8)!;
      Object.assign(slot.header, header);
      p.stage(slot);
    }
    expect(records(v), 'staged, not yet sent').to.equal(5);
    p.sendStaged();
    expect(records(v)).to.equal(8);
    // A loan given back sends nothing and counts nothing.
    p.abandon(p.loan(8)!);
    p.sendStaged();
    expect(records(v)).to.equal(8);
  });

  it('should continue the count when a producer re-attaches, and wrap at 2^32', () => {
    const v = views();
    Atomics.store(v.words, v.producerWord + P_RECORDS, 0xffff_fffe);
    const p = new RingProducer(v);
    for (let i = 0; i < 3; i++) p.sendCopy(header, new Uint8Array(4));
    expect(records(v)).to.equal(1);
    const again = new RingProducer(v);
    again.sendCopy(header, new Uint8Array(4));
    expect(records(v)).to.equal(2);
  });

  it('should count drops only when told, continue them on re-attach and wrap at 2^32', () => {
    const v = views();
    const p = new RingProducer(v);
    const drops = (): number => Atomics.load(v.words, v.producerWord + P_DROPS);
    // A refused send alone is no drop (a waiting lane retries it); the publisher says so.
    while (p.sendCopy(header, new Uint8Array(64)));
    expect(drops()).to.equal(0);
    p.countDrop();
    p.countDrop();
    expect(drops()).to.equal(2);
    expect(records(v), 'drops are not records').to.equal(Math.floor(DATA / 80));
    Atomics.store(v.words, v.producerWord + P_DROPS, 0xffff_ffff);
    new RingProducer(v).countDrop();
    expect(drops()).to.equal(0);
  });

  it('should write the consumer notify word at attach, and name any other value unknown', () => {
    for (const mode of ['spin', 'event', 'adaptive'] as const) {
      const v = views();
      new RingConsumer(v).announceNotifyMode(mode);
      expect(notifyModeName(Atomics.load(v.words, v.consumerWord + C_NOTIFY))).to.equal(mode);
    }
    for (const junk of [0, 4, 0xffff_ffff]) expect(notifyModeName(junk)).to.equal('unknown');
  });
});
