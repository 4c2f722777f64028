/** One check's outcome in a QEMU tier. */
export interface TierResult {
  readonly name: string;
  readonly status: 'ok' | 'not ok' | 'skip';
  readonly reason?: string;
}

/**
 * How a QEMU tier records its checks: one `ok <name>` / `not ok <name>: reason` /
 * `skip <name>: reason` line each as it goes, and at the end the tier's own
 * `N passed, N failed, N skipped` line, which CI sums over the tiers.
 */
export class TierResults {
  readonly #results: TierResult[];
  readonly #prefix: string;

  constructor(
    private readonly write: (line: string) => void = (l) => void process.stdout.write(`${l}\n`),
    shared: { results: TierResult[]; prefix: string } = { results: [], prefix: '' },
  ) {
    this.#results = shared.results;
    this.#prefix = shared.prefix;
  }

  /**
   * The same results, with every name recorded through the view prefixed by `prefix` (the
   * kernel a guest ran: `6.12/consumer/grant-accepted`), so a failure says where it happened.
   * The summary still counts all of them.
   */
  scope(prefix: string): TierResults {
    return new TierResults(this.write, {
      results: this.#results,
      prefix: `${this.#prefix}${prefix}`,
    });
  }

  /** Prints a comment line (`# …`): progress and figures, not counted. */
  note(text: string): void {
    this.write(`# ${text}`);
  }

  /** Records a check; returns `ok` so a scenario can stop at a failed precondition. */
  record(check: string, ok: boolean, reason = ''): boolean {
    const name = `${this.#prefix}${check}`;
    this.#results.push(ok ? { name, status: 'ok' } : { name, status: 'not ok', reason });
    this.write(ok ? `ok ${name}` : `not ok ${name}: ${reason}`);
    return ok;
  }

  skip(check: string, reason: string): void {
    const name = `${this.#prefix}${check}`;
    this.#results.push({ name, status: 'skip', reason });
    this.write(`skip ${name}: ${reason}`);
  }

  get failed(): boolean {
    return this.#results.some((r) => r.status === 'not ok');
  }

  count(status: TierResult['status']): number {
    return this.#results.filter((r) => r.status === status).length;
  }

  /** Prints the summary line and returns the exit code the tier should end with. */
  finish(): number {
    this.write(
      `${this.count('ok')} passed, ${this.count('not ok')} failed, ${this.count('skip')} skipped`,
    );
    return this.failed ? 1 : 0;
  }
}

/**
 * The groups `SIVSHM_VM_ONLY` (a comma-separated list) selects, for work on one of them: all
 * when it is unset. Each group left out is recorded as skipped under `<group>-group`.
 */
export function selectedGroups<G extends string>(
  groups: readonly G[],
  results: TierResults,
  only = process.env['SIVSHM_VM_ONLY'],
): Set<G> {
  if (only === undefined) return new Set(groups);
  const wanted = only.split(',');
  const selected = new Set<G>();
  for (const g of groups) {
    if (wanted.includes(g)) selected.add(g);
    else results.skip(`${g}-group`, `SIVSHM_VM_ONLY=${only}`);
  }
  return selected;
}
