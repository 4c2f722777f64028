// A `sivshm top` frame as plain text lines: fixed-width columns, no escape codes (the live
// view adds those), so `--once` output is greppable and the same text a terminal shows.
import type { TopDirection, TopFrame } from './top-frame.js';

/** Orders of the channel table (`s` cycles through them in the live view). */
export const SORTS = ['rate', 'service', 'fill'] as const;
export type TopSort = (typeof SORTS)[number];

const rate = (n: number): string =>
  n >= 1 << 20
    ? `${(n / (1 << 20)).toFixed(1)}M/s`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)}K/s`
      : `${n}B/s`;
const amount = (n: number): string =>
  n >= 1 << 20
    ? `${(n / (1 << 20)).toFixed(1)}M`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)}K`
      : `${n}`;
const ago = (iso: string, now: number): string => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120
    ? `${s}s ago`
    : s < 7200
      ? `${Math.round(s / 60)}m ago`
      : `${Math.round(s / 3600)}h ago`;
};

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

const dir = (d: TopDirection | undefined): [string, string, string] =>
  d === undefined
    ? ['-', '-', '-']
    : [`${amount(d.recordsPerSecond)}/s`, rate(d.bytesPerSecond), amount(d.queuedBytes)];

type Channel = TopFrame['channels'][number];
const total = (c: Channel): number => (c.c2p?.bytesPerSecond ?? 0) + (c.p2c?.bytesPerSecond ?? 0);
const fill = (c: Channel): number => (c.c2p?.queuedBytes ?? 0) + (c.p2c?.queuedBytes ?? 0);
const ORDER: Record<TopSort, (a: Channel, b: Channel) => number> = {
  rate: (a, b) => total(b) - total(a),
  service: (a, b) => a.service.localeCompare(b.service) || a.consumer.localeCompare(b.consumer),
  fill: (a, b) => fill(b) - fill(a),
};

/** The frame as lines of text, the channel table in `sort` order. */
export function renderTop(f: TopFrame, sort: TopSort = 'rate'): string[] {
  const h = f.hostd;
  const now = Date.parse(f.at);
  const refusals = Object.entries(h.refusalsByReason)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const loop = h.eventLoopDelayMs;
  const out = [
    `sivshm top — hostd pid ${h.pid}, epoch ${h.epoch}, up ${Math.round(h.uptimeMs / 1000)}s, ` +
      `rates over ${(f.intervalMs / 1000).toFixed(1)}s`,
    `event loop delay ms: ${loop === undefined ? '-' : `p50 ${loop.p50} p99 ${loop.p99} max ${loop.max}`}` +
      `   handshakes: ${h.handshakes.established} ok, ${h.handshakes.rejected} rejected, ${h.handshakes.aborted} aborted` +
      (h.lastHandshakeMs === undefined ? '' : ` (last ${h.lastHandshakeMs} ms)`),
    `refusals: ${refusals === '' ? 'none' : refusals}`,
    '',
    ...table(
      ['VM', 'ID', 'LINK', 'ENROLLED', 'REFUSALS', 'SD DROPS', 'INTEGRITY FAIL'],
      f.vms.map((v) => [
        v.name,
        String(v.id),
        v.connected ? 'up' : 'down',
        v.enrolled ? 'yes' : 'no',
        String(v.refusals),
        String(v.sdDropped),
        String(v.integrityFailures),
      ]),
    ),
    '',
    ...table(
      ['SERVICE', 'ID', 'INST', 'PROVIDER', 'CONSUMERS'],
      f.services.map((s) => [
        s.name,
        `0x${s.service.toString(16).padStart(4, '0')}`,
        String(s.instance),
        s.provider,
        s.consumers.join(',') || '-',
      ]),
    ),
    '',
    ...table(
      [
        'CHANNEL',
        'SERVICE',
        'CONSUMER',
        'MODE',
        'NOTIFY',
        'STATE',
        'REQ/s',
        'REQ B/s',
        'REQ FILL',
        'EVT/s',
        'EVT B/s',
        'EVT FILL',
        'DROPS',
        'REFUSED',
        'SINCE',
      ],
      [...f.channels]
        .sort(ORDER[sort])
        .map((c) => [
          c.channelId,
          `${c.service}.${c.instance}`,
          c.consumer,
          c.mode,
          c.notify ?? '-',
          c.state,
          ...dir(c.c2p),
          ...dir(c.p2c),
          c.p2c === undefined ? '-' : String(c.p2c.drops),
          c.c2p === undefined ? '-' : String(c.c2p.refused),
          ago(c.since, now),
        ]),
    ),
  ];
  return out;
}
