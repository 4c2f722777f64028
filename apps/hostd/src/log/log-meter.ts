/**
 * Longest string a log field keeps, characters; the rest is cut and marked. Error texts, SD
 * refusals and software names a VM sends end up in log fields: a few hundred characters say
 * what happened, and a VM cannot make one line cost more than that.
 */
export const MAX_LOGGED_TEXT = 256;
/**
 * A stack trace keeps more: it is hostd's own (an internal error), and its frames are what
 * tells the bug apart. Still bounded, since the error may carry a VM's text.
 */
export const MAX_LOGGED_STACK = 2048;
/**
 * Log lines about one VM per second, sustained, and the burst it may save up. A VM in normal
 * operation makes a handful of lines per connect, enrolment or handshake; a burst of 40 covers
 * start-up (connect, hello, enrol, offers) with room to spare. Past that the VM's lines are
 * counted and summarised, so what hostd writes stays bounded whatever a VM sends.
 */
export const VM_LOG_LINES_PER_SECOND = 20;
export const VM_LOG_BURST = 40;

const SUPPRESSED_NOTE = 'log-over-budget';

/** What the meter decided for one line. */
export type MeterDecision =
  /** Write it; `before` lines (a summary of what was suppressed) go first. */
  | { readonly write: true; readonly before: readonly Readonly<Record<string, unknown>>[] }
  | { readonly write: false; readonly before: readonly Readonly<Record<string, unknown>>[] };

interface VmMeter {
  tokens: number;
  lastMs: number;
  /** Lines suppressed in the current burst; undefined outside one. */
  suppressed: number | undefined;
}

/**
 * Meters log lines per VM, with a token bucket per VM and severity class (warn and error
 * apart from info and debug, so a flood of routine lines cannot hide a warning). Past the
 * budget, lines are counted: one note when suppression starts, lines again as the budget
 * refills, and one note with the count once the VM has been quiet long enough to refill it.
 */
export class LogMeter {
  readonly #meters = new Map<string, VmMeter>();
  readonly #nowMs: () => number;

  constructor(nowMs: () => number = () => Date.now()) {
    this.#nowMs = nowMs;
  }

  /** Whether a line about `vmId` at `severe` (warn/error) or not may be written now. */
  admit(vmId: number, severe = false): MeterDecision {
    const now = this.#nowMs();
    const key = `${vmId}${severe ? '!' : ''}`;
    let m = this.#meters.get(key);
    if (m === undefined) {
      m = { tokens: VM_LOG_BURST, lastMs: now, suppressed: undefined };
      this.#meters.set(key, m);
    }
    m.tokens = Math.min(
      VM_LOG_BURST,
      m.tokens + ((now - m.lastMs) * VM_LOG_LINES_PER_SECOND) / 1000,
    );
    m.lastMs = now;
    if (m.suppressed !== undefined && m.tokens >= VM_LOG_BURST) {
      const suppressed = m.suppressed;
      m.suppressed = undefined;
      m.tokens -= 1;
      return {
        write: true,
        before: [{ level: 'warn', event: 'log-back-in-budget', vm: vmId, suppressed }],
      };
    }
    if (m.tokens >= 1) {
      m.tokens -= 1;
      return { write: true, before: [] };
    }
    if (m.suppressed !== undefined) {
      m.suppressed++;
      return { write: false, before: [] };
    }
    m.suppressed = 1;
    return {
      write: false,
      before: [
        {
          level: 'warn',
          event: SUPPRESSED_NOTE,
          vm: vmId,
          detail: `over ${VM_LOG_LINES_PER_SECOND} log lines/s about this VM: further lines are counted and written only as the budget refills`,
        },
      ],
    };
  }
}

/** `s` cut to `max` characters, saying how long it was. */
export function clipText(s: string, max = MAX_LOGGED_TEXT): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}… (${s.length} characters, cut)`;
}
