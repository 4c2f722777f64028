import type { SdClock, SdTimer } from './clock.js';
import { AnnouncePhases, type SdPhase } from './announce-phases.js';
import type { SdTiming } from './sd-timing.js';

/** Members that entered their Initial Wait together and repeat together. */
interface Batch<M> {
  readonly members: Set<M>;
  readonly phases: AnnouncePhases;
}

/**
 * The announce timeline of many instances at once, the way vsomeip schedules them: everything
 * added while a batch is in its Initial Wait joins that batch (one random delay for all, then
 * the repetitions together), and — for a server (`cyclic`) — every instance past its
 * Repetition Phase shares one Main Phase timer, so each cycle sends one message carrying all
 * of them instead of one message per instance at its own moment. A client (Finds) has no Main
 * Phase: its members end in `done`.
 *
 * `send` gets the members due together and the phase they are in; it packs them into one
 * message (or as few as the transport allows).
 */
export class AnnounceSchedule<M> {
  readonly #batches = new Set<Batch<M>>();
  readonly #where = new Map<M, Batch<M> | 'main' | 'done'>();
  readonly #main = new Set<M>();
  #joining: Batch<M> | undefined;
  #mainTimer: SdTimer | undefined;

  constructor(
    private readonly clock: SdClock,
    private readonly timing: SdTiming,
    private readonly random: () => number,
    private readonly cyclic: boolean,
    private readonly send: (members: M[], phase: SdPhase) => void,
  ) {}

  /** The member's phase: `down` when it is not scheduled. */
  phaseOf(m: M): SdPhase {
    const w = this.#where.get(m);
    if (w === undefined) return 'down';
    return typeof w === 'string' ? w : w.phases.phase;
  }

  /** Schedules `m`: it joins the batch now in its Initial Wait, or starts a new one. */
  add(m: M): void {
    if (this.#where.has(m)) return;
    let batch = this.#joining;
    if (batch === undefined) {
      const members = new Set<M>();
      const b: Batch<M> = {
        members,
        phases: new AnnouncePhases(
          this.clock,
          this.timing,
          this.random,
          false,
          (phase) => this.#sendBatch(b, phase),
          () => this.#graduate(b),
        ),
      };
      batch = b;
      this.#joining = b;
      this.#batches.add(b);
      b.phases.start();
    }
    batch.members.add(m);
    this.#where.set(m, batch);
  }

  /** Stops announcing `m` and forgets it. */
  remove(m: M): void {
    const w = this.#where.get(m);
    this.#where.delete(m);
    if (w === 'main') {
      this.#main.delete(m);
      if (this.#main.size === 0) this.#stopMain();
    } else if (w !== undefined && w !== 'done') {
      w.members.delete(m);
      if (w.members.size === 0) this.#drop(w);
    }
  }

  /** Stops announcing `m` but keeps it known, in `done` (a Find that got its answer). */
  finish(m: M): void {
    if (!this.#where.has(m)) return;
    this.remove(m);
    this.#where.set(m, 'done');
  }

  /** Everything stops; every member is forgotten. */
  stopAll(): void {
    for (const b of this.#batches) b.phases.stop();
    this.#batches.clear();
    this.#joining = undefined;
    this.#main.clear();
    this.#stopMain();
    this.#where.clear();
  }

  #sendBatch(b: Batch<M>, phase: SdPhase): void {
    if (this.#joining === b) this.#joining = undefined;
    if (b.members.size > 0) this.send([...b.members], phase);
  }

  /** The batch finished its repetitions: a server's members move to the shared Main Phase. */
  #graduate(b: Batch<M>): void {
    this.#batches.delete(b);
    if (this.#joining === b) this.#joining = undefined;
    for (const m of b.members) {
      if (!this.cyclic) {
        this.#where.set(m, 'done');
        continue;
      }
      this.#where.set(m, 'main');
      this.#main.add(m);
    }
    if (this.cyclic && this.#main.size > 0 && this.#mainTimer === undefined) this.#armMain();
  }

  #armMain(): void {
    this.#mainTimer = this.clock.setTimer(this.timing.cyclicOfferDelay, () => {
      this.#mainTimer = undefined;
      if (this.#main.size === 0) return;
      this.send([...this.#main], 'main');
      this.#armMain();
    });
  }

  #stopMain(): void {
    this.#mainTimer?.cancel();
    this.#mainTimer = undefined;
  }

  #drop(b: Batch<M>): void {
    b.phases.stop();
    this.#batches.delete(b);
    if (this.#joining === b) this.#joining = undefined;
  }
}
