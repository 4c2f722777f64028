/**
 * Problems found in a services.yaml, each pinned to a file, line, column and field path, and the
 * `CoreError('ERR_CONFIG')` that carries them.
 */
import { CoreError } from '../errors/core-error.js';

/** One problem in a config file. `line` and `column` are 1-based. */
export interface ConfigIssue {
  /** The config file as the caller named it. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path such as `services[0].instances[1]`; `(root)` for the whole document, `(syntax)` for YAML syntax. */
  readonly path: string;
  /** What is wrong and what is allowed. */
  readonly message: string;
}

/** A `CoreError` with code `ERR_CONFIG` and the list of problems found. */
export type ConfigError = CoreError & {
  readonly code: 'ERR_CONFIG';
  readonly issues: readonly ConfigIssue[];
};

/**
 * Formats an issue as one line, `file:line:col: path: message`, the form editors and CI
 * annotate (`services.yaml:14:9: services[0].instances[1]: 65536 is out of range 0x0001..0xFFFE`).
 */
export function formatConfigIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.path}: ${issue.message}`;
}

/**
 * Builds the `ERR_CONFIG` error for `issues` (at least one). Its message lists every issue, one
 * per line, so even a caller that only prints `e.message` shows all of them.
 */
export function configError(issues: readonly ConfigIssue[], options?: ErrorOptions): ConfigError {
  const list = Object.freeze([...issues]);
  const head = list.length === 1 ? '1 problem' : `${list.length} problems`;
  const e = new CoreError(
    'ERR_CONFIG',
    `invalid config (${head}):\n${list.map(formatConfigIssue).join('\n')}`,
    options,
  );
  Object.defineProperty(e, 'issues', { value: list, enumerable: true });
  return e as ConfigError;
}

/**
 * True when `e` is a config error carrying issues (from any copy of this package).
 *
 * @example
 * ```ts
 * try { await loadConfig('services.yaml'); }
 * catch (e) { if (isConfigError(e)) for (const i of e.issues) console.error(formatConfigIssue(i)); }
 * ```
 */
export function isConfigError(e: unknown): e is ConfigError {
  return (
    CoreError.is(e) && e.code === 'ERR_CONFIG' && Array.isArray((e as { issues?: unknown }).issues)
  );
}
