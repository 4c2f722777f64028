// The calls of one service consumer that wait for their answers, and the timer that ends them.
// The module's binding: the global `performance` is an accessor, a getter call on every read.
import { performance } from 'node:perf_hooks';
import type protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';

/**
 * How soon a call whose deadline passed while its request still waited for room in the ring is
 * looked at again: the sending side reports it (`ERR_BUSY`) unless the request got in at the
 * last moment, and then it is this table's to time out.
 */
export const UNSENT_RECHECK_MS = 5;

/** One method call made and not yet answered. */
export interface PendingCall {
  /** Gets the answer's decoded response, already detached from the record. */
  readonly resolve: (response: unknown) => void;
  readonly reject: (e: TransportError) => void;
  /** `performance.now()` after which the call fails with ERR_TIMEOUT. */
  readonly deadline: number;
  readonly methodId: number;
  readonly timeoutMs: number;
  /** How the answer is decoded (in the dispatch, straight from the record). */
  readonly responseType: protobuf.Type;
  /**
   * The request is in the ring. Until then the deadline is the sending side's to report (as
   * `ERR_BUSY`: never sent), not this table's (`ERR_TIMEOUT`: sent, not answered).
   */
  sent: boolean;
}

/**
 * A consumer's pending calls by session id, with one unref'd timer due at the earliest deadline
 * that fails every sent call past its deadline with `ERR_TIMEOUT`, never before it.
 *
 * The timer is not re-armed per call: a call whose deadline is not earlier than the armed one
 * arms nothing, and an answered call leaves the timer as it is. When it fires it ends the
 * expired calls and arms itself again for the earliest deadline left, or stays off when none
 * is pending. So a consumer making one call at a time arms it about once per timeout, not once
 * per call (the parked call path armed a new interval on every call before).
 */
export class PendingCalls {
  readonly #calls = new Map<number, PendingCall>();
  #timer: NodeJS.Timeout | undefined;
  /** `performance.now()` the armed timer is due at; Infinity when none is armed. */
  #due = Infinity;
  /** Times the deadline timer was armed (what the tests check the hot path against). */
  timersArmed = 0;
  readonly #sweep = (): void => this.#expire();

  /** Calls pending now. */
  get size(): number {
    return this.#calls.size;
  }

  has(session: number): boolean {
    return this.#calls.has(session);
  }

  /** Adds `call` under `session`; arms the timer only if `call` is due before it. */
  add(session: number, call: PendingCall): void {
    this.#calls.set(session, call);
    if (call.deadline < this.#due) this.#arm(call.deadline);
  }

  get(session: number): PendingCall | undefined {
    return this.#calls.get(session);
  }

  /** Forgets the call of `session` (answered, or failed before it was sent). */
  delete(session: number): void {
    this.#calls.delete(session);
  }

  /** Rejects every pending call with `e` and stops the timer. */
  rejectAll(e: TransportError): void {
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    this.#disarm();
    for (const p of calls) p.reject(e);
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#due = at;
    this.timersArmed++;
    // Node's timer clock may run behind performance.now(): a timer that fires early finds the
    // call not yet due and arms again for what is left, so no call fails before its deadline.
    this.#timer = setTimeout(this.#sweep, Math.max(1, Math.ceil(at - performance.now())));
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due = Infinity;
  }

  #expire(): void {
    this.#timer = undefined;
    this.#due = Infinity;
    const now = performance.now();
    let next = Infinity;
    const expired: PendingCall[] = [];
    for (const [session, p] of this.#calls) {
      if (now < p.deadline) next = Math.min(next, p.deadline);
      else if (!p.sent) next = Math.min(next, now + UNSENT_RECHECK_MS);
      else {
        this.#calls.delete(session);
        expired.push(p);
      }
    }
    if (next !== Infinity) this.#arm(next);
    for (const p of expired) {
      p.reject(
        new TransportError(
          'ERR_TIMEOUT',
          `no response to method 0x${p.methodId.toString(16)} within ${p.timeoutMs} ms`,
        ),
      );
    }
  }
}
