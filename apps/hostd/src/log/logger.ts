import { LogMeter, MAX_LOGGED_STACK, clipText } from './log-meter.js';

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The level names `--log-level` accepts. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * SOME/IP ids written as `0x1234`, as `sivshm status`, `inspect` and `capture` print them (a
 * channel id is a `0x…` string already where it is logged).
 */
const HEX_ID_FIELDS: ReadonlySet<string> = new Set([
  'service',
  'instance',
  'serviceId',
  'instanceId',
]);

/** Fields of one log event; bigints and byte arrays are written as strings, ids in hex. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Structured logger of hostd: one JSON object per line (time, level, event, fields), so that
 * `jq` and log shippers read it without a parser of our own.
 *
 * Lines about a VM (a numeric `vm` field) are metered per VM, and every string field is cut to
 * a few hundred characters (log-meter.ts): what a VM sends cannot make hostd write at its rate
 * or at its length (docs/security.md, "Resource bounds").
 *
 * @example
 * ```ts
 * const log = new JsonLogger('info', (line) => process.stderr.write(line));
 * log.info('vm-connected', { vm: 2, name: 'cluster' });
 * ```
 */
export class JsonLogger {
  readonly #meter = new LogMeter();

  constructor(
    readonly level: LogLevel,
    private readonly write: (line: string) => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  debug(event: string, fields: LogFields = {}): void {
    this.log('debug', event, fields);
  }

  info(event: string, fields: LogFields = {}): void {
    this.log('info', event, fields);
  }

  warn(event: string, fields: LogFields = {}): void {
    this.log('warn', event, fields);
  }

  error(event: string, fields: LogFields = {}): void {
    this.log('error', event, fields);
  }

  /** Writes one event if `level` is at or above the logger's level. */
  log(level: LogLevel, event: string, fields: LogFields): void {
    if (RANK[level] < RANK[this.level]) return;
    const vm = fields['vm'];
    if (typeof vm === 'number') {
      const d = this.#meter.admit(vm, RANK[level] >= RANK.warn);
      for (const { level: l, event: e, ...f } of d.before)
        this.#write(l as LogLevel, e as string, f);
      if (!d.write) return;
    }
    this.#write(level, event, fields);
  }

  #write(level: LogLevel, event: string, fields: LogFields): void {
    const line = JSON.stringify({ t: this.now().toISOString(), level, event, ...fields }, (k, v) =>
      typeof v === 'number' && HEX_ID_FIELDS.has(k)
        ? `0x${v.toString(16).padStart(4, '0')}`
        : typeof v === 'string'
          ? clipText(v, k === 'stack' ? MAX_LOGGED_STACK : undefined)
          : typeof v === 'bigint'
            ? v.toString()
            : v instanceof Uint8Array
              ? clipText(Buffer.from(v).toString('hex'))
              : (v as unknown),
    );
    this.write(`${line}\n`);
  }
}
