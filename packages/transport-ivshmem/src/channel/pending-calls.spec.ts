import { expect } from 'chai';
import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { PendingCalls, UNSENT_RECHECK_MS, type PendingCall } from './pending-calls.js';

const Empty = new protobuf.Type('Empty');
new protobuf.Root().add(Empty);

/** A call due `timeoutMs` from now whose settling is recorded with the time it happened. */
function pendingCall(
  timeoutMs: number,
  sent = true,
): { call: PendingCall; settled: Promise<{ outcome: string; atMs: number }> } {
  let resolve!: (x: { outcome: string; atMs: number }) => void;
  const settled = new Promise<{ outcome: string; atMs: number }>((r) => (resolve = r));
  const call: PendingCall = {
    resolve: () => resolve({ outcome: 'answered', atMs: performance.now() }),
    reject: (e) =>
      resolve({ outcome: TransportError.is(e) ? e.code : 'other', atMs: performance.now() }),
    deadline: performance.now() + timeoutMs,
    methodId: 1,
    timeoutMs,
    responseType: Empty,
    sent,
  };
  return { call, settled };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('PendingCalls', () => {
  it('should fail an unanswered call with ERR_TIMEOUT, never before its deadline', async () => {
    const table = new PendingCalls();
    const { call, settled } = pendingCall(30);
    table.add(1, call);
    const { outcome, atMs } = await settled;
    expect(outcome).to.equal('ERR_TIMEOUT');
    expect(atMs).to.be.at.least(call.deadline);
    expect(table.size).to.equal(0);
  });

  it('should arm the timer once for many calls answered one after another, not once per call', () => {
    const table = new PendingCalls();
    for (let session = 1; session <= 1000; session++) {
      const { call } = pendingCall(60_000);
      table.add(session, call);
      table.get(session)!.resolve(undefined);
      table.delete(session);
    }
    expect(table.timersArmed).to.equal(1);
    table.rejectAll(new TransportError('ERR_CLOSED', 'test over'));
  });

  it('should time out a call with a shorter bound made after a longer one at its own deadline', async () => {
    const table = new PendingCalls();
    const long = pendingCall(60_000);
    const short = pendingCall(30);
    table.add(1, long.call);
    table.add(2, short.call);
    const { outcome, atMs } = await short.settled;
    expect(outcome).to.equal('ERR_TIMEOUT');
    expect(atMs).to.be.at.least(short.call.deadline);
    // Bounded on a busy machine by the long call's minute, which it must not have waited for.
    expect(atMs).to.be.below(long.call.deadline);
    expect(table.size, 'the long call still waits').to.equal(1);
    table.rejectAll(new TransportError('ERR_CLOSED', 'test over'));
    expect((await long.settled).outcome).to.equal('ERR_CLOSED');
  });

  it('should keep timing out calls made after the timer went off (re-armed when needed)', async () => {
    const table = new PendingCalls();
    for (let session = 1; session <= 3; session++) {
      const { call, settled } = pendingCall(20);
      table.add(session, call);
      const { outcome, atMs } = await settled;
      expect(outcome, `call ${session}`).to.equal('ERR_TIMEOUT');
      expect(atMs).to.be.at.least(call.deadline);
    }
    expect(table.size).to.equal(0);
  });

  it('should leave a call whose request is not yet in the ring to its sender, then time it out once sent', async () => {
    const table = new PendingCalls();
    const { call, settled } = pendingCall(20, false);
    table.add(1, call);
    let done = false;
    void settled.then(() => (done = true));
    await sleep(20 + 4 * UNSENT_RECHECK_MS);
    expect(done, 'not sent: the sending side reports it').to.equal(false);
    expect(table.size).to.equal(1);
    call.sent = true; // the request got in at the last moment
    const { outcome } = await settled;
    expect(outcome).to.equal('ERR_TIMEOUT');
    expect(table.size).to.equal(0);
  });

  it('should reject every pending call at once and leave no timer armed', async () => {
    const table = new PendingCalls();
    const calls = [pendingCall(15), pendingCall(60_000)];
    calls.forEach((c, i) => table.add(i + 1, c.call));
    table.rejectAll(new TransportError('ERR_CLOSED', 'closed'));
    const outcomes = await Promise.all(calls.map((c) => c.settled.then((s) => s.outcome)));
    expect(outcomes).to.deep.equal(['ERR_CLOSED', 'ERR_CLOSED']);
    await sleep(30); // past the first deadline: a live timer would find nothing, and must not throw
    expect(table.size).to.equal(0);
  });
});
