/**
 * A token bucket on an injected clock: `rate` tokens per second, at most `burst` saved up.
 * hostd keeps one per VM so a flooding VM is held to its rate (docs/security.md §4).
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: bigint;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly nowMs: () => bigint,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const now = this.nowMs();
    const elapsed = Number(now - this.lastMs);
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.lastMs = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
