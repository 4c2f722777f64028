/**
 * The doorbell of one ring direction: the producer rings it, the parked consumer waits on it.
 *
 * Implementations: {@link LocalWaker} (threads of one process, for tests and in-process
 * channels) and `EventfdWaker` (an eventfd watched with `uv_poll`, across processes). The
 * qemu-mode doorbell register plugs in the same way. A waker may deliver spurious or coalesced
 * wake-ups; the consumer re-checks the ring after each one, so only a lost wake-up is a bug.
 *
 * @example
 * ```ts
 * declare const views: RingViews;
 * const waker: Waker = new LocalWaker();
 * const producer = new RingProducer(views, { waker }); // rings it when the consumer is parked
 * await waker.wait(100);                            // consumer side: true when rung
 * ```
 */
/** What a parked wait waits for (a `RingConsumer` is one): see {@link Waker.wait}. */
export interface PendingProbe {
  hasPending(): boolean;
}

export interface Waker {
  /** Producer side: ring the doorbell. Never blocks. */
  wake(): void;
  /**
   * Consumer side: resolves true when rung (or a ring arrived since the last wait), false after
   * `timeoutMs`. The JS thread stays free meanwhile.
   *
   * `ring`, when given, is the waiting ring's consumer end: its `hasPending()` tells whether
   * anything is there for it (records, a close, a failure). A waker whose doorbell several rings
   * share may leave the wait asleep on a doorbell while `hasPending()` says false: that doorbell
   * was another channel's. The producer publishes before it rings, so the doorbell meant for
   * this ring always finds `hasPending()` true.
   */
  wait(timeoutMs: number, ring?: PendingProbe): Promise<boolean>;
  /** Releases what the waker holds (watchers, fds it owns); pending waits resolve false. */
  close(): void;
}
