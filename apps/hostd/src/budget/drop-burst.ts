/**
 * A burst of things hostd dropped for one VM (refusals over its budget, SD over its budget): the
 * first drop of a burst is logged, the rest only counted, and the burst ends once the VM has
 * been quiet (nothing dropped) for `quietMs` — then its count is logged once. A log line per
 * drop would be work at the flooder's rate.
 */
export class DropBurst {
  /** Drops in the current burst; undefined outside one. */
  #count: number | undefined;
  #lastDropMs = 0;

  constructor(private readonly quietMs: number) {}

  /** True while a burst is on (its drops are not logged one by one). */
  get active(): boolean {
    return this.#count !== undefined;
  }

  /** Counts one drop at `nowMs`; true when it starts a burst (the caller logs that one). */
  drop(nowMs: number): boolean {
    this.#lastDropMs = nowMs;
    if (this.#count !== undefined) {
      this.#count++;
      return false;
    }
    this.#count = 1;
    return true;
  }

  /**
   * Ends the burst when nothing was dropped for `quietMs` by `nowMs`, returning how many it
   * dropped (the caller logs the end); undefined when no burst ended.
   */
  endIfQuiet(nowMs: number): number | undefined {
    if (this.#count === undefined || nowMs - this.#lastDropMs < this.quietMs) return undefined;
    const dropped = this.#count;
    this.#count = undefined;
    return dropped;
  }
}
