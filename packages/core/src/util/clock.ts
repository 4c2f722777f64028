/** Time as the protocol state machines see it: injected, so tests run on virtual time. */
export interface Clock {
  /** Unix time in milliseconds. */
  nowMs(): bigint;
}

/** The wall clock. */
export const systemClock: Clock = { nowMs: () => BigInt(Date.now()) };
