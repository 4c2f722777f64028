import type { Waker } from '../src/notify/waker.js';

/** A request with this seq makes the traced fullpath peer print what it recorded. */
export const TRACE_FLUSH = 0xffff_ffff;

/** Microseconds on CLOCK_MONOTONIC, which every process on the machine shares. */
export function monoUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * A {@link Waker} that passes everything to `inner` and reports when this side rang the peer
 * (`onWake`) and when a sleep ended because it was rung (`onWoken`). The parked-call trace of
 * the fullpath bench wraps both doorbells of each side with it.
 */
export class TraceWaker implements Waker {
  constructor(
    private readonly inner: Waker,
    private readonly hooks: { onWake?: (us: number) => void; onWoken?: (us: number) => void },
  ) {}

  wake(): void {
    this.hooks.onWake?.(monoUs());
    this.inner.wake();
  }

  async wait(timeoutMs: number): Promise<boolean> {
    const rung = await this.inner.wait(timeoutMs);
    if (rung) this.hooks.onWoken?.(monoUs());
    return rung;
  }

  close(): void {
    this.inner.close();
  }
}
