import { expect } from 'chai';
import { MissedRecords } from '../src/diag/missed-records.js';

/** A 16-byte SOME/IP header of service 0x1234 with the given event, session and type. */
function frame(event: number, session: number, messageType = 0x02): Uint8Array {
  const f = new Uint8Array(16);
  const v = new DataView(f.buffer);
  v.setUint16(0, 0x1234);
  v.setUint16(2, event);
  v.setUint32(4, 8);
  v.setUint16(10, session);
  f[12] = 1;
  f[13] = 1;
  f[14] = messageType;
  return f;
}

describe('MissedRecords (what sivshm capture says it missed)', () => {
  it('should count the session gap of each event across a lapse', () => {
    const m = new MissedRecords();
    m.saw(frame(0x8001, 1));
    m.saw(frame(0x8002, 7));
    m.lapsed();
    m.saw(frame(0x8001, 11)); // 2..10 lost
    m.saw(frame(0x8002, 8)); // nothing lost of this event
    m.saw(frame(0x8001, 12));
    expect(m.count).to.equal(9);
  });

  it('should not count a gap with no lapse in between (the producer dropped it on a full ring)', () => {
    const m = new MissedRecords();
    m.saw(frame(0x8001, 1));
    m.saw(frame(0x8001, 5));
    expect(m.count).to.equal(0);
  });

  it('should count across the wrap of session ids from 0xffff to 1', () => {
    const m = new MissedRecords();
    m.saw(frame(0x8001, 0xfffe));
    m.lapsed();
    m.saw(frame(0x8001, 2)); // 0xffff and 1 lost
    expect(m.count).to.equal(2);
  });

  it('should leave out calls, unnumbered frames and events seen on one side of a lapse only', () => {
    const m = new MissedRecords();
    m.saw(frame(0x0001, 1, 0x00));
    m.saw(frame(0x8001, 0));
    m.lapsed();
    m.saw(frame(0x0001, 9, 0x00));
    m.saw(frame(0x8001, 0));
    m.saw(frame(0x8003, 40));
    expect(m.count).to.equal(0);
  });
});
