// The bound on the method calls one provider runs at once on one channel.
import { TransportError } from '../errors/transport-error.js';

/**
 * Method calls a provider runs at once on one channel unless the service says otherwise. An
 * async handler that has not settled holds its request and whatever it awaits; without a bound a
 * consumer (or a compromised VM) that sends requests faster than they settle makes the provider
 * hold any number of them. Far above what one caller's pipelined calls need.
 */
export const DEFAULT_MAX_CALLS_IN_FLIGHT = 256;

/** Highest bound accepted: a consumer cannot have more calls pending on one channel anyway. */
export const MAX_CALLS_IN_FLIGHT_LIMIT = 0xffff;

/**
 * Why `max` cannot bound a channel's calls in flight, or undefined when it can: the one range
 * check of the setting (a layer that takes it earlier, like the runtime's `Node.offer`, asks
 * here too, so both refuse the same values with the same words).
 */
export function maxCallsInFlightProblem(max: number): string | undefined {
  if (Number.isInteger(max) && max >= 1 && max <= MAX_CALLS_IN_FLIGHT_LIMIT) return undefined;
  return `maxCallsInFlight ${String(max)} is not allowed: use a whole number from 1 to ${MAX_CALLS_IN_FLIGHT_LIMIT}`;
}

/**
 * Counts a channel's calls between the handler's start and its settling. Past `max` a request
 * is refused before its handler runs (the provider answers E_NOT_READY, which the consumer
 * reports as `ERR_BUSY`: nothing ran, retry later; a one-way request gets no answer) and counted
 * in `refused` (and by `onRefused`, in the channel's ring for monitors).
 */
export class CallsInFlight {
  #running = 0;
  /** Requests refused because `max` calls were running. */
  refused = 0;

  /**
   * @param onRefused called on each refusal too: the provider counts it in its channel's ring
   * (`Channel.countRefusedCall`), where status and `sivshm top` see it.
   */
  constructor(
    readonly max: number = DEFAULT_MAX_CALLS_IN_FLIGHT,
    private readonly onRefused?: () => void,
  ) {
    const problem = maxCallsInFlightProblem(max);
    if (problem !== undefined) throw new TransportError('ERR_BAD_ARGUMENT', problem);
  }

  /** Calls started and not settled. */
  get running(): number {
    return this.#running;
  }

  /** True (counted as running) when another call may start; false (counted as refused) if not. */
  tryStart(): boolean {
    if (this.#running >= this.max) {
      this.refused++;
      this.onRefused?.();
      return false;
    }
    this.#running++;
    return true;
  }

  /** A started call settled (answered, failed, or its handler threw). */
  settled(): void {
    this.#running--;
  }

  /** The text of the refusal the caller reads. */
  refusal(): string {
    return `the provider is busy: ${this.max} calls already run on this channel (its maxCallsInFlight); nothing ran, retry later`;
  }
}

/** Options of a `ServiceProvider`. */
export interface ServiceProviderOptions {
  /**
   * Method calls run at once on the channel (async handlers not yet settled), 1..65535; default
   * {@link DEFAULT_MAX_CALLS_IN_FLIGHT}. A request past it is refused before its handler runs.
   */
  readonly maxCallsInFlight?: number;
}
