import { expect } from 'chai';
import { tpSegments } from '../../test/support/tp-segments.js';
import { encodeSomeIp, splitSomeIpDatagram, type SomeIpMessage } from './someip-message.js';
import { TpReassembler, type TpOutcome } from './tp-reassembler.js';

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
    const r = new TpReassembler(64 * 1024);
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
    const r = new TpReassembler(64 * 1024);
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
    const r = new TpReassembler(4000);
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
    const small = new TpReassembler(2000);
    const [u0, u1] = onWire(big(3000));
    expect(small.add('z', u0!).kind).to.equal('partial');
    expect(why(small.add('z', u1!))).to.equal('the message passes 2000 bytes');
    expect(why(small.add('z', { ...u0!, payload: Uint8Array.of(0, 0) }))).to.equal('no TP header');
  });

  it('should hold at most eight reassemblies per sender, forgetting the oldest', () => {
    const r = new TpReassembler(64 * 1024);
    const messages = Array.from({ length: 9 }, (_, i) => onWire(big(2000, i + 1)));
    for (const m of messages) expect(r.add('s', m[0]!).kind).to.equal('partial');
    expect(r.add('s', messages[0]![1]!).kind).to.equal('dropped');
    for (const m of messages.slice(1)) expect(r.add('s', m[1]!).kind).to.equal('complete');
  });
});
