import { TransportError } from '../errors/transport-error.js';

/** The error every access to a released sample throws. */
export function sampleClosed(): TransportError {
  return new TransportError('ERR_CLOSED', 'sample used after release()');
}

function readOnly(): TransportError {
  return new TransportError(
    'ERR_BAD_ARGUMENT',
    "a Sample's message is read-only (it aliases ring memory); take a copy with toOwned() to change it",
  );
}

type Raw = object;
type View = ArrayBufferView & { [index: number]: number };

/**
 * Key under which a guard answers with its handler (lets `toOwned` and `Sample.raw` unwrap).
 * Module-private; cheaper than a WeakMap of every guard, whose entries the collector must
 * trace as ephemerons.
 */
const HANDLER: unique symbol = Symbol('sivshm.sampleGuard');

/**
 * The lifetime shared by all guards of one sample: the message, every nested object reached
 * through it, every `bytes` view. Releasing the scope revokes them all at once.
 *
 * Each guard is two proxies. The outer one (what callers hold) has a handler that checks the
 * scope first and throws `ERR_CLOSED` once it is released; the object it forwards to is kept in
 * the handler and dropped on release. Its proxy target is an inner `Proxy.revocable` over the
 * object, revoked on release, which supplies the engine's invariant checks (`Array.isArray`, non-
 * configurable properties) while alive and holds nothing afterwards — so a guard the caller
 * leaks keeps no ring memory reachable.
 */
export class GuardScope {
  #released = false;
  // Created on first use: many samples are released without a nested object being read.
  #cache: Map<Raw, object> | undefined;
  #handlers: GuardHandler[] | undefined;

  get released(): boolean {
    return this.#released;
  }

  /** Throws `ERR_CLOSED` once released. */
  check(): void {
    if (this.#released) throw sampleClosed();
  }

  /** The guard of `value` (the same guard for the same object), or `value` if it is a primitive or function. */
  wrap<V>(value: V): V {
    if (typeof value !== 'object' || value === null) return value;
    const cache = (this.#cache ??= new Map());
    const hit = cache.get(value);
    if (hit !== undefined) return hit as V;
    const { proxy: inner, revoke } = Proxy.revocable(value, EMPTY_HANDLER);
    const handler = ArrayBuffer.isView(value)
      ? new ViewGuard(this, value as unknown as View, revoke)
      : new ObjectGuard(this, value, revoke);
    const guard = new Proxy(inner, handler);
    cache.set(value, guard);
    (this.#handlers ??= []).push(handler);
    return guard as V;
  }

  /** Ends the scope: every guard throws from now on and forgets what it guarded. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const h of this.#handlers ?? []) h.revoke();
    this.#handlers = undefined;
    this.#cache = undefined;
  }
}

/**
 * If `value` is a guard, the object behind it (throws `ERR_CLOSED` when its sample was
 * released); otherwise undefined.
 */
export function unwrapGuard(value: object): object | undefined {
  return handlerOf(value)?.live();
}

/** The scope a guard belongs to, or undefined if `value` is not a guard. */
export function guardScope(value: object): GuardScope | undefined {
  return handlerOf(value)?.scope;
}

function handlerOf(value: object): GuardHandler | undefined {
  const h = (value as { [HANDLER]?: unknown })[HANDLER];
  return h instanceof GuardHandler ? h : undefined;
}

const EMPTY_HANDLER: ProxyHandler<object> = Object.freeze({});

abstract class GuardHandler<T extends Raw = Raw> implements ProxyHandler<object> {
  raw: T | undefined;
  readonly scope: GuardScope;
  #revoke: (() => void) | undefined;

  constructor(scope: GuardScope, raw: T, revoke: () => void) {
    this.scope = scope;
    this.raw = raw;
    this.#revoke = revoke;
  }

  /** Forgets the guarded object and revokes the inner proxy. */
  revoke(): void {
    this.raw = undefined;
    this.#revoke?.();
    this.#revoke = undefined;
  }

  live(): T {
    const raw = this.raw;
    if (raw === undefined || this.scope.released) throw sampleClosed();
    return raw;
  }

  has(_target: object, key: string | symbol): boolean {
    return Reflect.has(this.live(), key);
  }

  ownKeys(): (string | symbol)[] {
    return Reflect.ownKeys(this.live());
  }

  getOwnPropertyDescriptor(_target: object, key: string | symbol): PropertyDescriptor | undefined {
    const desc = Reflect.getOwnPropertyDescriptor(this.live(), key);
    if (desc !== undefined && 'value' in desc) desc.value = this.scope.wrap(desc.value);
    return desc;
  }

  getPrototypeOf(): object | null {
    return Reflect.getPrototypeOf(this.live());
  }

  isExtensible(): boolean {
    return Reflect.isExtensible(this.live());
  }

  set(): boolean {
    this.live();
    throw readOnly();
  }

  defineProperty(): boolean {
    this.live();
    throw readOnly();
  }

  deleteProperty(): boolean {
    this.live();
    throw readOnly();
  }

  setPrototypeOf(): boolean {
    this.live();
    throw readOnly();
  }

  preventExtensions(): boolean {
    this.live();
    throw readOnly();
  }
}

/** Messages, arrays, map objects, Longs: own values come back guarded. */
class ObjectGuard extends GuardHandler {
  get(_target: object, key: string | symbol, receiver: unknown): unknown {
    if (key === HANDLER) return this;
    const raw = this.live();
    if (Object.hasOwn(raw, key))
      return this.scope.wrap((raw as Record<string | symbol, unknown>)[key]);
    // Inherited: prototype defaults, methods, protobufjs's oneof getters (which then read
    // the fields through this guard, as `this` is the receiver).
    return Reflect.get(raw, key, receiver);
  }
}

const MUTATORS = new Set<string | symbol>(['set', 'fill', 'copyWithin', 'reverse', 'sort']);
const ITERATORS = new Set<string | symbol>(['values', 'keys', 'entries', Symbol.iterator]);

/**
 * `bytes` views: element reads pass through; methods run on the real view (typed-array methods
 * need it as `this`), results that view the same memory (`subarray`, `Buffer#slice`) stay
 * guarded, iterators re-check the scope per step, methods that write are refused.
 */
class ViewGuard extends GuardHandler<View> {
  get(_target: object, key: string | symbol): unknown {
    if (key === HANDLER) return this;
    const raw = this.live();
    const value: unknown = Reflect.get(raw, key);
    if (typeof value !== 'function') return value;
    const fn = value as (...args: unknown[]) => unknown;
    if (MUTATORS.has(key)) {
      return () => {
        this.live();
        throw readOnly();
      };
    }
    if (ITERATORS.has(key)) {
      return () => checkedIterator(this.scope, fn.call(this.live()) as Iterator<unknown>);
    }
    return (...args: unknown[]) => {
      const view = this.live();
      const result = fn.apply(view, args);
      // subarray (and Buffer#slice) return views of the same memory: they stay guarded.
      return ArrayBuffer.isView(result) && result.buffer === view.buffer
        ? this.scope.wrap(result)
        : result;
    };
  }
}

function* checkedIterator(scope: GuardScope, it: Iterator<unknown>): Generator<unknown> {
  for (;;) {
    scope.check();
    const step = it.next();
    if (step.done === true) return;
    yield step.value;
  }
}
