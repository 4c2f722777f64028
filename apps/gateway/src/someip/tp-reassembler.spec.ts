import { expect } from 'chai';
import { tpSegments } from '../../test/support/tp-segments.js';
import { encodeSomeIp, splitSomeIpDatagram, type SomeIpMessage } from './someip-message.js';
import {
  TP_OPEN,
  TP_TIMEOUT_MS,
  TpReassembler,
  type TpLossCounters,
  type TpOutcome,
} from './tp-reassembler.js';

const lost = (): TpLossCounters => ({ tpEvicted: 0, tpExpired: 0 });

/** A clock the test moves by hand (ms). */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** A notification of `size` payload bytes (a recognisable pattern) with session `sessionId`. */
const big = (size: number, sessionId = 1) => ({
  serviceId: 0x1234,
  methodId: 0x8001,
  clientId: 0,
  sessionId,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
  payload: Uint8Array.from({ length: size }, (_, i) => (i * 31 + sessionId) & 0xff),
});

/** The segments as they arrive: each through the wire format and the datagram split. */
function onWire(m: ReturnType<typeof big>, segmentBytes = 1392): SomeIpMessage[] {
  return tpSegments(m, segmentBytes).map(
    (s) => splitSomeIpDatagram(encodeSomeIp(s), 1 << 16).messages[0]!,
  );
}

describe('SOME/IP-TP reassembly', () => {
  it('should rebuild a 3000-byte notification from its 1392-byte segments, TP flag cleared', () => {
    const r = new TpReassembler({ maxPayload: 64 * 1024 }, lost());
    const segments = onWire(big(3000));
    expect(segments.map((s) => s.messageType)).to.deep.equal([0x22, 0x22, 0x22]);
    expect(segments.map((s) => s.payload.byteLength)).to.deep.equal([1396, 1396, 220]);
    const outcomes = segments.map((s) => r.add('10.0.0.9:30801', s));
    expect(outcomes.slice(0, 2).map((o) => o.kind)).to.deep.equal(['partial', 'partial']);
    const last = outcomes[2] as Extract<TpOutcome, { kind: 'complete' }>;
    expect(last.kind).to.equal('complete');
    expect(last.message.messageType).to.equal(0x02);
    expect(Buffer.from(last.message.payload).equals(Buffer.from(big(3000).payload))).to.equal(true);
  });

  it('should keep interleaved messages of two senders and two sessions apart', () => {
    const r = new TpReassembler({ maxPayload: 64 * 1024 }, lost());
    const a = onWire(big(2000, 1));
    const b = onWire(big(2000, 2));
    const c = onWire(big(2000, 1));
    const done: number[] = [];
    for (let i = 0; i < 2; i++)
      for (const [sender, segs] of [
        ['a:1', a],
        ['a:1', b],
        ['c:1', c],
      ] as const) {
        const o = r.add(sender, segs[i]!);
        if (o.kind === 'complete') done.push(o.message.sessionId);
        expect(o.kind).to.not.equal('dropped');
      }
    expect(done).to.deep.equal([1, 2, 1]);
  });

  it('should drop, and say why, a segment out of order, a short middle segment, one past the bound and one without a TP header', () => {
    const why = (o: TpOutcome): string => (o.kind === 'dropped' ? o.why : o.kind);
    const r = new TpReassembler({ maxPayload: 4000 }, lost());
    const [s0, s1, s2] = onWire(big(3000));
    r.add('x', s0!);
    expect(why(r.add('x', s2!))).to.equal('segment at 2784, expected 1392');
    expect(why(r.add('x', s1!))).to.equal('segment at 1392 without its first segment');
    const [t0] = onWire(big(3000), 1400); // 1400 is rounded down to 1392: fine
    expect(r.add('x', t0!).kind).to.equal('partial');
    const odd = tpSegments(big(100), 1392)[0]!;
    const short = { ...odd, payload: odd.payload.subarray(0, 4 + 20) };
    const oddOnWire = splitSomeIpDatagram(
      encodeSomeIp({
        ...short,
        payload: Uint8Array.from([0, 0, 0, 1, ...short.payload.subarray(4)]),
      }),
      1 << 16,
    ).messages[0]!;
    expect(why(r.add('y', oddOnWire))).to.match(/carries 20 bytes, not a multiple of 16$/);
    const small = new TpReassembler({ maxPayload: 2000 }, lost());
    const [u0, u1] = onWire(big(3000));
    expect(small.add('z', u0!).kind).to.equal('partial');
    expect(why(small.add('z', u1!))).to.equal('the message passes 2000 bytes');
    expect(why(small.add('z', { ...u0!, payload: Uint8Array.of(0, 0) }))).to.equal('no TP header');
  });

  it('should hold at most eight reassemblies per sender, evicting (and counting) the oldest', () => {
    const counters = lost();
    const r = new TpReassembler({ maxPayload: 64 * 1024 }, counters);
    const messages = Array.from({ length: 9 }, (_, i) => onWire(big(2000, i + 1)));
    for (const m of messages) expect(r.add('s', m[0]!).kind).to.equal('partial');
    expect(counters).to.deep.equal({ tpEvicted: 1, tpExpired: 0 });
    expect(r.size).to.equal(8);
    expect(r.add('s', messages[0]![1]!).kind).to.equal('dropped');
    for (const m of messages.slice(1)) expect(r.add('s', m[1]!).kind).to.equal('complete');
    expect(r.size).to.equal(0);
    expect(r.bufferedBytes).to.equal(0);
    r.close();
  });

  it('should give up (and count) a reassembly with no segment for the timeout, on the clock it is given', () => {
    const counters = lost();
    const clock = manualClock();
    const r = new TpReassembler({ maxPayload: 64 * 1024 }, counters, clock.now);
    const [a0, a1, a2] = onWire(big(3000, 1));
    const [b0, b1] = onWire(big(2000, 2));
    expect(r.add('10.0.0.9:1', a0!).kind).to.equal('partial');
    clock.advance(TP_TIMEOUT_MS - 1);
    // A segment just inside the timeout keeps the message; its idle time starts again.
    expect(r.add('10.0.0.9:1', a1!).kind).to.equal('partial');
    expect(r.add('10.0.0.9:2', b0!).kind).to.equal('partial');
    clock.advance(TP_TIMEOUT_MS);
    r.sweep();
    expect(counters).to.deep.equal({ tpEvicted: 0, tpExpired: 2 });
    expect(r.size).to.equal(0);
    expect(r.bufferedBytes).to.equal(0);
    // What comes after the expiry has lost its start.
    expect(r.add('10.0.0.9:1', a2!).kind).to.equal('dropped');
    expect(r.add('10.0.0.9:2', b1!).kind).to.equal('dropped');
    r.close();
  });

  it('should sweep expired reassemblies when the next segment of anyone arrives', () => {
    const counters = lost();
    const clock = manualClock();
    const r = new TpReassembler({ maxPayload: 64 * 1024 }, counters, clock.now);
    expect(r.add('a:1', onWire(big(2000, 1))[0]!).kind).to.equal('partial');
    clock.advance(TP_TIMEOUT_MS + 1);
    const [c0, c1] = onWire(big(2000, 3));
    expect(r.add('b:1', c0!).kind).to.equal('partial');
    expect(counters.tpExpired).to.equal(1);
    expect(r.add('b:1', c1!).kind).to.equal('complete');
    r.close();
  });

  it(`should hold at most ${TP_OPEN} reassemblies of all senders together, so spoofed source ports cannot hold more`, () => {
    const counters = lost();
    const r = new TpReassembler({ maxPayload: 64 * 1024 }, counters);
    const first = onWire(big(2000, 7))[0]!;
    for (let port = 1; port <= 1000; port++) {
      expect(r.add(`10.0.0.66:${port}`, first).kind).to.equal('partial');
      expect(r.size).to.be.at.most(TP_OPEN);
    }
    expect(counters.tpEvicted).to.equal(1000 - TP_OPEN);
    expect(r.bufferedBytes).to.equal(TP_OPEN * 1392);
    // A sender that is still sending is not the one evicted: the longest idle one goes.
    const [m0, m1] = onWire(big(2000, 8));
    expect(r.add('10.0.0.9:30501', m0!).kind).to.equal('partial');
    for (let port = 1001; port < 1001 + TP_OPEN - 1; port++) r.add(`10.0.0.66:${port}`, first);
    expect(r.add('10.0.0.9:30501', m1!).kind).to.equal('complete');
    r.close();
  });

  it('should bound the bytes held by all reassemblies, evicting the longest idle first, never the one growing', () => {
    const counters = lost();
    const r = new TpReassembler({ maxPayload: 4000, bufferedBytes: 5000 }, counters);
    const [a0, a1, a2] = onWire(big(3000, 1));
    const [b0, b1] = onWire(big(2000, 2));
    const [c0] = onWire(big(2000, 3));
    expect(r.add('a:1', a0!).kind).to.equal('partial'); // 1392 held
    expect(r.add('b:1', b0!).kind).to.equal('partial'); // 2784
    expect(r.add('c:1', c0!).kind).to.equal('partial'); // 4176
    // 5568 > 5000: a idles longest but is the one growing, so b (next longest idle) goes.
    expect(r.add('a:1', a1!).kind).to.equal('partial');
    expect(counters.tpEvicted).to.equal(1);
    expect(r.bufferedBytes).to.equal(4176);
    expect(r.add('b:1', b1!).kind).to.equal('dropped');
    expect(r.add('a:1', a2!).kind).to.equal('complete'); // 4392 fits: nothing more evicted
    expect(counters.tpEvicted).to.equal(1);
    expect(r.bufferedBytes).to.equal(1392); // c's first segment
    r.close();
  });
});
