/**
 * Members grouped in sets by a key (here: a service instance), so the work one SD entry causes
 * touches only the members that share its key instead of every member the agent holds: with
 * hundreds of instances, every cycle's entries each scanning every subscription was quadratic.
 *
 * @example
 * ```ts
 * const byInstance = new KeyedSets<string>();
 * byInstance.add('0x1234|1', 'speed');
 * [...byInstance.get('0x1234|1')]; // ['speed']
 * ```
 */
export class KeyedSets<T> {
  readonly #sets = new Map<string, Set<T>>();

  add(key: string, member: T): void {
    const set = this.#sets.get(key);
    if (set === undefined) this.#sets.set(key, new Set([member]));
    else set.add(member);
  }

  delete(key: string, member: T): void {
    const set = this.#sets.get(key);
    if (set === undefined) return;
    set.delete(member);
    if (set.size === 0) this.#sets.delete(key);
  }

  /** The members under `key`, in the order they were added (empty when none). */
  get(key: string): Iterable<T> {
    return this.#sets.get(key) ?? [];
  }

  clear(): void {
    this.#sets.clear();
  }
}
