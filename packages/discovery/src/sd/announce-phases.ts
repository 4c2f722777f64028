import type { SdClock, SdTimer } from './clock.js';
import type { SdTiming } from './sd-timing.js';

/** Where an announcer is (SD-68..SD-81): not started, waiting, repeating, cycling, or done. */
export type SdPhase = 'down' | 'initialWait' | 'repetition' | 'main' | 'done';

/**
 * The phase timer shared by servers (Offers) and clients (Finds), per service instance:
 * Initial Wait (a random delay in [INITIAL_DELAY_MIN, INITIAL_DELAY_MAX]), then
 * REPETITIONS_MAX sends each `2^k · REPETITIONS_BASE_DELAY` after the previous, then — for a
 * server only (`cyclic`) — the Main Phase: wait CYCLIC_OFFER_DELAY, send, repeat (SD-80).
 * A client has no cyclic Finds (SD-866) and ends in `done`; `finished` then tells the owner,
 * which is how a batch of offers hands its members over to the shared Main Phase
 * (`AnnounceSchedule`).
 */
export class AnnouncePhases {
  private timer: SdTimer | undefined;
  private current: SdPhase = 'down';

  constructor(
    private readonly clock: SdClock,
    private readonly timing: SdTiming,
    private readonly random: () => number,
    private readonly cyclic: boolean,
    private readonly send: (phase: SdPhase) => void,
    private readonly finished?: () => void,
  ) {}

  /** The current phase. */
  get phase(): SdPhase {
    return this.current;
  }

  /** Enters the Initial Wait Phase (no-op unless down). */
  start(): void {
    if (this.current !== 'down') return;
    const { initialDelayMin: min, initialDelayMax: max } = this.timing;
    const delay = Math.min(max, min + Math.floor(this.random() * (max - min + 1)));
    this.current = 'initialWait';
    this.timer = this.clock.setTimer(delay, () => {
      this.send('initialWait');
      this.repeat(0);
    });
  }

  /** Stops all sending: `done` (e.g. a Find answered) — the instance stays up. */
  finish(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.current !== 'down') this.current = 'done';
  }

  /** Stops all sending and returns to `down`. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.current = 'down';
  }

  private repeat(k: number): void {
    if (k >= this.timing.repetitionsMax) {
      this.main();
      return;
    }
    this.current = 'repetition';
    this.timer = this.clock.setTimer(this.timing.repetitionsBaseDelay * 2 ** k, () => {
      this.send('repetition');
      this.repeat(k + 1);
    });
  }

  private main(): void {
    if (!this.cyclic) {
      this.current = 'done';
      this.timer = undefined;
      this.finished?.();
      return;
    }
    this.current = 'main';
    this.timer = this.clock.setTimer(this.timing.cyclicOfferDelay, () => {
      this.send('main');
      this.main();
    });
  }
}
