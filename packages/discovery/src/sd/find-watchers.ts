import type { Observable, Subscriber, Subscription } from 'rxjs';
import { KeyedSets } from './keyed-sets.js';
import { matchesFind, type ServiceAvailability } from './service-types.js';

/** The query of one `find()` caller, wildcards filled in. */
interface WatchedQuery {
  readonly serviceId: number;
  readonly instanceId: number;
  readonly majorVersion: number;
  readonly minorVersion: number;
}

interface Watcher {
  /** When it began watching: callers hear a change in this order. */
  readonly seq: number;
  readonly query: WatchedQuery;
  readonly subscriber: Subscriber<ServiceAvailability>;
}

const ANY_INSTANCE = 0xffff;

const keyOf = (serviceId: number, instanceId: number): string => `${serviceId}|${instanceId}`;

/**
 * The `find()` callers waiting for availability changes, indexed by the instance they ask for
 * (or the service, for an any-instance query), so a change is matched only against the callers
 * that can match it. One filtered subscription per caller on the registry's changes made every
 * change visit every caller: with hundreds of instances found, learning one SD cycle's Offers was
 * quadratic and blocked the event loop (docs/performance.md §4, the scale rows).
 *
 * Callers see the same changes, in the same order, as with a filtered subscription each; a
 * caller added or removed while a change is delivered is handled as rxjs's `Subject` does
 * (the change goes to the callers present when it began; a removed caller's subscriber is closed).
 *
 * @example
 * ```ts
 * import { Observable, Subject } from 'rxjs';
 * const changes = new Subject<ServiceAvailability>();
 * const watchers = new FindWatchers(changes);
 * const q = { serviceId: 0x1234, instanceId: 1, majorVersion: 1, minorVersion: 0 };
 * new Observable<ServiceAvailability>((s) => watchers.watch(q, s)).subscribe(console.log);
 * ```
 */
export class FindWatchers {
  readonly #byKey = new KeyedSets<Watcher>();
  readonly #all = new Set<Watcher>();
  readonly #source: Subscription;
  #next = 0;

  constructor(changes$: Observable<ServiceAvailability>) {
    this.#source = changes$.subscribe({
      next: (c) => this.#deliver(c),
      complete: () => {
        for (const w of [...this.#all]) w.subscriber.complete();
      },
    });
  }

  /** Delivers every change matching `query` to `subscriber` until the returned function runs. */
  watch(query: WatchedQuery, subscriber: Subscriber<ServiceAvailability>): () => void {
    const w: Watcher = { seq: this.#next++, query, subscriber };
    const key = keyOf(query.serviceId, query.instanceId);
    this.#byKey.add(key, w);
    this.#all.add(w);
    return () => {
      this.#byKey.delete(key, w);
      this.#all.delete(w);
    };
  }

  /** Stops listening to the registry (the callers are not completed). */
  close(): void {
    this.#source.unsubscribe();
  }

  #deliver(c: ServiceAvailability): void {
    const { serviceId, instanceId } = c.service;
    const exact = [...this.#byKey.get(keyOf(serviceId, instanceId))];
    const anyInstance =
      instanceId === ANY_INSTANCE ? [] : [...this.#byKey.get(keyOf(serviceId, ANY_INSTANCE))];
    // Each set is in the order its callers began watching; merged, as one subscription each saw it.
    const due =
      anyInstance.length === 0 ? exact : [...exact, ...anyInstance].sort((a, b) => a.seq - b.seq);
    for (const w of due) if (matchesFind(w.query, c.service)) w.subscriber.next(c);
  }
}
