/**
 * Decides when a consumed service's channel has gone unused for its `idleTimeoutMs`
 * (services.yaml): no call, no event stream taken, nothing in flight for that long.
 *
 * The data path only bumps a counter (`touch()`); a timer at a quarter of the timeout compares
 * it with what it saw last, so a call costs one increment and no clock read. The channel is
 * therefore closed between one and one and a quarter timeouts after its last use.
 *
 * @example
 * ```ts
 * declare function closeChannel(): void;
 * const watch = new IdleWatch(30_000, () => false, closeChannel);
 * watch.start(); // when the channel is up
 * watch.touch(); // on every use
 * watch.stop(); // when the channel ends
 * ```
 */
export class IdleWatch {
  /** Shortest check period, ms: keeps a tiny timeout from spinning the timer. */
  static readonly MIN_PERIOD_MS = 25;
  readonly #timeoutMs: number;
  readonly #busy: () => boolean;
  readonly #onIdle: () => void;
  readonly #now: () => number;
  #uses = 0;
  #seen = 0;
  #lastActive = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param timeoutMs - unused time after which `onIdle` is called (once per `start()`)
   * @param busy - true while something that is not a counted use keeps the channel in use
   *   (an open event stream, a call awaiting its answer)
   * @param onIdle - closes the channel
   * @param now - monotonic clock, ms
   */
  constructor(
    timeoutMs: number,
    busy: () => boolean,
    onIdle: () => void,
    now: () => number = () => performance.now(),
  ) {
    this.#timeoutMs = timeoutMs;
    this.#busy = busy;
    this.#onIdle = onIdle;
    this.#now = now;
  }

  /** Counts one use of the channel. */
  touch(): void {
    this.#uses++;
  }

  /** Starts watching (the channel is up): the timeout counts from now. */
  start(): void {
    this.stop();
    this.#seen = this.#uses;
    this.#lastActive = this.#now();
    const period = Math.max(IdleWatch.MIN_PERIOD_MS, Math.floor(this.#timeoutMs / 4));
    this.#timer = setInterval(() => this.#check(), period);
    // The watch never keeps a process alive on its own.
    this.#timer.unref();
  }

  /** Stops watching (the channel ended or was closed). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    if (this.#uses !== this.#seen || this.#busy()) {
      this.#seen = this.#uses;
      this.#lastActive = this.#now();
      return;
    }
    if (this.#now() - this.#lastActive < this.#timeoutMs) return;
    this.stop();
    this.#onIdle();
  }
}
