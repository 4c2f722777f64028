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
export interface Waker {
  /** Producer side: ring the doorbell. Never blocks. */
  wake(): void;
  /**
   * Consumer side: resolves true when rung (or a ring arrived since the last wait), false after
   * `timeoutMs`. The JS thread stays free meanwhile.
   */
  wait(timeoutMs: number): Promise<boolean>;
  /** Releases what the waker holds (watchers, fds it owns); pending waits resolve false. */
  close(): void;
}
