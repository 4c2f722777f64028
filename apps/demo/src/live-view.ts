import type { ClusterReport, InfotainmentReport } from './vm/vm-report.js';

/** One second of the demo, as the view shows it. */
export interface ViewFrame {
  readonly elapsedS: number;
  readonly cluster: ClusterReport | undefined;
  readonly infotainment: InfotainmentReport | undefined;
  /** Speed events received in the last second. */
  readonly eventsPerS: number;
}

/** The q-quantile (0..1) of `values` by nearest rank; undefined when empty. */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const ms = (v: number | undefined): string => (v === undefined ? '–' : `${v.toFixed(2)} ms`);

/** The figures of a frame as text lines (the TTY view) or one line (a log). */
export function describeFrame(f: ViewFrame): { lines: string[]; line: string } {
  const c = f.cluster;
  const i = f.infotainment;
  const rtt = c?.rttMs ?? [];
  const p50 = quantile(rtt, 0.5);
  const p99 = quantile(rtt, 0.99);
  const hs = Object.entries(c?.handshakeMs ?? {})
    .map(([name, v]) => `${name} ${ms(v)}`)
    .join(', ');
  const channels = Object.entries(c?.status ?? {})
    .map(
      ([name, s]) => `${name} ${s}${c?.modes?.[name] === undefined ? '' : ` (${c.modes[name]})`}`,
    )
    .join(', ');
  const events = `${f.eventsPerS} events/s (${c?.events ?? 0} total${c?.lastKph === undefined ? '' : `, last ${c.lastKph.toFixed(1)} km/h`})`;
  const calls = `rtt p50 ${ms(p50)} p99 ${ms(p99)} (${rtt.length} calls, ${c?.failedCalls ?? 0} failed)`;
  const lines = [
    `sivshm demo — ${f.elapsedS}s   (Ctrl-C to stop)`,
    `  VehicleSpeed   ${events}`,
    `  MediaControl   ${calls}`,
    `  handshake      ${hs || '–'}`,
    `  channels       ${channels || '–'}${c !== undefined && c.reconnects > 0 ? ` (${c.reconnects} reconnects)` : ''}`,
    `  infotainment   ${i?.published ?? 0} published, ${i?.dropped ?? 0} dropped, ${i?.mediaCalls ?? 0} media calls served`,
  ];
  const line = `[${String(f.elapsedS).padStart(4)}s] ${events} | ${calls} | handshake ${hs || '–'} | channels ${channels || '–'}`;
  return { lines, line };
}

/**
 * Shows frames: redrawn in place on a TTY (cursor up, clear line), one line per frame
 * otherwise (CI logs, pipes).
 */
export class LiveView {
  #drawn = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty = out.isTTY === true,
  ) {}

  show(f: ViewFrame): void {
    const { lines, line } = describeFrame(f);
    if (!this.tty) {
      this.out.write(`${line}\n`);
      return;
    }
    let s = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    this.out.write(s);
    this.#drawn = lines.length;
  }
}
