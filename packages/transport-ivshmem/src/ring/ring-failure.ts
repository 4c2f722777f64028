import type { TransportError } from '../errors/transport-error.js';

/** Listener of a ring's failure; gets the typed error once. */
export type RingFailureListener = (error: TransportError) => void;

/**
 * The failed state of a ring end: set once, reported once to every listener.
 *
 * Listeners run in a microtask, never inside the `receive()`/`send()` call that detected the
 * failure, so a throwing listener cannot turn a detected violation into an exception out of the
 * data path.
 */
export class RingFailure {
  #error: TransportError | undefined;
  /**
   * Listeners in the order they subscribed: the first in a field, any others in an array made
   * when needed. Every channel holds two ring ends with one listener each, and an idle channel
   * should cost little heap.
   */
  #first: RingFailureListener | undefined;
  #more: RingFailureListener[] | undefined;

  /** The error that failed the ring, or undefined while it works. */
  get error(): TransportError | undefined {
    return this.#error;
  }

  /** Records `error` unless a failure was already recorded; returns the recorded one. */
  fail(error: TransportError): TransportError {
    if (this.#error !== undefined) return this.#error;
    this.#error = error;
    const listeners = this.#first === undefined ? [] : [this.#first];
    if (this.#more !== undefined) listeners.push(...this.#more);
    this.#first = undefined;
    this.#more = undefined;
    queueMicrotask(() => {
      for (const l of listeners) l(error);
    });
    return error;
  }

  /** Calls `listener` once when the ring fails (at once, in a microtask, if it already has). */
  subscribe(listener: RingFailureListener): () => void {
    const err = this.#error;
    if (err !== undefined) {
      queueMicrotask(() => listener(err));
      return () => undefined;
    }
    if (this.#first === undefined && this.#more === undefined) {
      this.#first = listener;
      return () => {
        if (this.#first === listener) this.#first = undefined;
      };
    }
    const more = (this.#more ??= []);
    more.push(listener);
    return () => {
      const i = more.indexOf(listener);
      if (i >= 0) more.splice(i, 1);
    };
  }
}
