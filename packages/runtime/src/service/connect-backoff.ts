import { RuntimeError } from '../errors/runtime-error.js';

/** Why a channel could not be opened, as far as retrying goes. */
export type RefusalKind = 'noSpace' | 'overBudget' | 'transient';

/** Delays of {@link ConnectBackoff}, ms. */
export interface ConnectBackoffOptions {
  /** First retry after a refusal. */
  readonly firstMs?: number;
  /** Longest wait after a transient refusal (timeout, provider gone, handshake aborted). */
  readonly maxMs?: number;
  /** Longest wait while hostd has no room: space frees only when channels close. */
  readonly noSpaceMaxMs?: number;
}

/** What a failed attempt tells the retry. */
export function refusalKind(e: unknown): RefusalKind {
  if (!RuntimeError.is(e)) return 'transient';
  if (e.code === 'ERR_NO_SPACE') return 'noSpace';
  const reason = (e.cause as { abortReason?: string } | undefined)?.abortReason;
  if (reason === 'rateLimited' || reason === 'tooManyPending') return 'overBudget';
  return 'transient';
}

/**
 * When to try a refused channel again: exponential back-off with jitter (half the delay fixed,
 * half random, so consumers refused together do not come back together), reset by a success.
 * A refusal for room waits longer than a transient one, and one over the VM's handshake budget
 * starts from a longer first delay: retrying sooner would only spend the budget again. A fixed
 * short retry is what turned one refusal into a storm that exhausted the budget.
 */
export class ConnectBackoff {
  readonly #firstMs: number;
  readonly #maxMs: number;
  readonly #noSpaceMaxMs: number;
  #attempt = 0;

  constructor(
    options: ConnectBackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.#firstMs = options.firstMs ?? 100;
    this.#maxMs = options.maxMs ?? 5_000;
    this.#noSpaceMaxMs = options.noSpaceMaxMs ?? 10_000;
  }

  /** Refusals in a row since the last success. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt after a refusal of `kind`. */
  next(kind: RefusalKind): number {
    const first = kind === 'overBudget' ? 4 * this.#firstMs : this.#firstMs;
    const cap = kind === 'noSpace' ? this.#noSpaceMaxMs : this.#maxMs;
    const full = Math.min(cap, first * 2 ** Math.min(this.#attempt, 20));
    this.#attempt++;
    return Math.round(full / 2 + this.random() * (full / 2));
  }

  /** A channel came up: the next refusal starts from the first delay again. */
  reset(): void {
    this.#attempt = 0;
  }
}
