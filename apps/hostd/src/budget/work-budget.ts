/**
 * A token bucket that charges several tokens at once: `rate` per second, at most `burst`
 * saved up. hostd charges a VM for units of work (SD entries) rather than for messages, and a
 * message that needs more tokens than are left is refused whole, charging nothing.
 */
export class WorkBudget {
  #tokens: number;
  #lastMs: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly nowMs: () => number = () => Date.now(),
  ) {
    this.#tokens = burst;
    this.#lastMs = nowMs();
  }

  /** Takes `n` tokens if there are that many. */
  take(n = 1): boolean {
    const now = this.nowMs();
    if (now > this.#lastMs) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#lastMs) * this.rate) / 1000);
      this.#lastMs = now;
    }
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
}
