import { windowLayout, type PageGranule, type WindowRole } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import type { Waker } from '../notify/waker.js';
import { RingConsumer } from '../ring/ring-consumer.js';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews, type RingViews, type WindowMemory } from '../ring/ring-views.js';

/** How long a move may take at one end before the channel fails (docs/protocol.md §11.5). */
export const DEFAULT_MOVE_BOUND_MS = 2000;

/** How long a receive loop that met the peer's move marker waits for its own successor grant. */
export const FOLLOW_WAIT_MS = DEFAULT_MOVE_BOUND_MS;

/**
 * The move a receive loop that read the peer's marker naming `successor` follows: this end's
 * own move to that successor, waited for within {@link FOLLOW_WAIT_MS} (hostd's grant to this
 * end may arrive after the peer switched). A ring violation when none comes, when it names
 * another successor, or when the marker came from the successor's own ring (`reading`);
 * undefined when the channel stopped meanwhile.
 */
export async function successorToFollow(
  current: () => ChannelMove | undefined,
  open: () => boolean,
  successor: bigint,
  reading: RingConsumer,
): Promise<ChannelMove | TransportError | undefined> {
  const waitUntil = performance.now() + FOLLOW_WAIT_MS;
  while (current() === undefined && open()) {
    if (performance.now() > waitUntil) {
      return new TransportError(
        'ERR_RING_VIOLATION',
        `the peer moved to successor channel ${successor}, which hostd did not grant this end within ${FOLLOW_WAIT_MS} ms`,
      );
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
  const move = current();
  if (move === undefined || !open()) return undefined;
  if (move.successorId !== successor || move.consumer === reading) {
    return new TransportError(
      'ERR_RING_VIOLATION',
      `the peer's move marker names channel ${successor}, but this end's successor is ${move.successorId}${move.consumer === reading ? ', which it already reads' : ''}`,
    );
  }
  return move;
}

/** What {@link ChannelMove} is built from. */
export interface ChannelMoveOptions {
  /** The successor channel id hostd granted this end the new window under. */
  readonly successorId: bigint;
  /** The new window, mapped from the successor's grant. */
  readonly window: WindowMemory;
  readonly role: WindowRole;
  readonly pageGranule: PageGranule;
  /** The peer's doorbell, rung by the new producer as by the old one. */
  readonly peerWaker?: Waker;
  /** Bound of the whole move at this end (ms); default {@link DEFAULT_MOVE_BOUND_MS}. */
  readonly boundMs?: number;
}

/**
 * One end's move of a channel to its successor window (docs/protocol.md §11): the new window's
 * ring ends, and the three steps that finish the move here — the producer switched (and its
 * move marker placed in the old send ring), the consumer followed the peer's marker, and the
 * peer's consumer passed our marker in the old window. `done` settles when all three happened
 * (then the old window may be revoked), or rejects with `ERR_TIMEOUT` at the bound.
 */
export class ChannelMove {
  readonly successorId: bigint;
  readonly window: WindowMemory;
  readonly sendViews: RingViews;
  readonly recvViews: RingViews;
  readonly producer: RingProducer;
  readonly consumer: RingConsumer;
  readonly #deadline: number;
  readonly #boundMs: number;
  #old: RingProducer | undefined;
  /** Producer index just past our marker in the old ring; -1 until it is placed. */
  #markerEnd = -1;
  #followed = false;
  #settled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve!: () => void;
  #reject!: (e: TransportError) => void;
  readonly done: Promise<void>;

  constructor(o: ChannelMoveOptions) {
    const dataSize = windowLayout(o.pageGranule).dataSizeOf(o.window.shared.byteLength);
    if (dataSize === undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `successor window of ${o.window.shared.byteLength} bytes is not a channel window for page granule ${o.pageGranule}`,
      );
    }
    this.successorId = o.successorId;
    this.window = o.window;
    const send = o.role === 'consumer' ? 'c2p' : 'p2c';
    const recv = o.role === 'consumer' ? 'p2c' : 'c2p';
    this.sendViews = ringViews(o.window, send, dataSize, o.pageGranule);
    this.recvViews = ringViews(o.window, recv, dataSize, o.pageGranule);
    this.producer = new RingProducer(this.sendViews, {
      ...(o.peerWaker === undefined ? {} : { waker: o.peerWaker }),
    });
    this.consumer = new RingConsumer(this.recvViews);
    this.#boundMs = o.boundMs ?? DEFAULT_MOVE_BOUND_MS;
    this.#deadline = performance.now() + this.#boundMs;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The owner learns of a failure through the channel's state; an unobserved `done` must not
    // become an unhandled rejection.
    this.done.catch(() => undefined);
    this.#schedule();
  }

  /** True once the producer writes into the new window. */
  get switched(): boolean {
    return this.#old !== undefined;
  }

  /** The producer switched at a record boundary; `old` still owes the peer its marker. */
  switchedFrom(old: RingProducer): void {
    this.#old = old;
    this.#tick();
  }

  /** The consumer read the peer's marker and now reads the new window. */
  followed(): void {
    this.#followed = true;
    this.#tick();
  }

  /** Ends the move without completing it (the channel closed or failed). */
  abort(e: TransportError): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#reject(e);
  }

  #schedule(): void {
    if (this.#settled) return;
    // A short poll: the marker waits for room and the peer for its turn, both within the bound.
    this.#timer = setTimeout(() => this.#tick(), 1);
    this.#timer.unref?.();
  }

  #tick(): void {
    if (this.#settled) return;
    clearTimeout(this.#timer);
    const old = this.#old;
    try {
      if (old !== undefined && this.#markerEnd < 0) {
        this.#markerEnd = old.sendMoveMarker(this.successorId);
      }
    } catch (e) {
      this.abort(TransportError.is(e) ? e : new TransportError('ERR_PEER_GONE', String(e)));
      return;
    }
    const peerPassed = this.#markerEnd >= 0 && old!.peerConsumed() === this.#markerEnd;
    if (peerPassed && this.#followed) {
      this.#settled = true;
      this.#resolve();
      return;
    }
    if (performance.now() > this.#deadline) {
      const missing = [
        ...(this.#old === undefined ? ['this end has not switched its producer'] : []),
        ...(this.#markerEnd < 0 && old !== undefined ? ['no room for the move marker'] : []),
        ...(this.#markerEnd >= 0 && !peerPassed ? ['the peer did not read up to our marker'] : []),
        ...(this.#followed ? [] : ["the peer's marker did not arrive"]),
      ];
      this.abort(
        new TransportError(
          'ERR_TIMEOUT',
          `the move to successor channel ${this.successorId} did not complete within ${this.#boundMs} ms: ${missing.join('; ')}`,
        ),
      );
      return;
    }
    this.#schedule();
  }
}
