import { callError } from './call-error.js';
import type { ResolvedMethod } from './service-catalog.js';

/** A call's deadline when the caller names none, ms. */
export const DEFAULT_CALL_TIMEOUT_MS = 1000;

/** The options a call hands the transport: its deadline and the mapping that names its errors. */
export interface TransportCallOptions {
  readonly timeoutMs: number;
  readonly mapError: (e: unknown) => Error;
}

/**
 * One method of a consumed service as the call path uses it, made once per method name: the
 * resolved method, the error mapping that names service and method, and the transport options
 * of a call with the default deadline. A call then looks up one entry and allocates neither a
 * closure nor an options object (the e2e benchmark measures this wrapper).
 *
 * @example
 * ```ts
 * declare const reset: ConstructorParameters<typeof MethodCaller>[2]; // the catalog's method
 * const caller = new MethodCaller('VehicleSpeed', 'reset', reset);
 * caller.options(1000) === caller.options(1000); // the same object, made once
 * ```
 */
export class MethodCaller {
  readonly mapError: (e: unknown) => Error;
  readonly #defaultOptions: TransportCallOptions;

  constructor(
    service: string,
    name: string,
    readonly method: ResolvedMethod,
  ) {
    this.mapError = (e) => callError(service, name, e);
    this.#defaultOptions = { timeoutMs: DEFAULT_CALL_TIMEOUT_MS, mapError: this.mapError };
  }

  /** The transport options of a call with deadline `timeoutMs`. */
  options(timeoutMs: number): TransportCallOptions {
    return timeoutMs === DEFAULT_CALL_TIMEOUT_MS
      ? this.#defaultOptions
      : { timeoutMs, mapError: this.mapError };
  }
}
