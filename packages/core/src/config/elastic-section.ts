/**
 * `services[].elastic` in services.yaml: the bounds within which hostd may move a live channel
 * of the service to a larger or smaller window as its traffic changes (docs/protocol.md §11),
 * or `false` (the default: every channel keeps the window it got at its handshake).
 */
import { windowLayout, type PageGranule } from '@sivshm/abi';
import type { Node } from 'yaml';
import type { ConfigBuildContext } from './config-build-context.js';
import { formatSize, isPowerOfTwo } from './config-numbers.js';
import type { ElasticWindow, VmConfig } from './config-types.js';
import type { FieldEntry } from './yaml-reader.js';

/**
 * The ring data area hostd gives a service without `ringDataSize` (hostd's own default, raised to
 * the page granule when that is larger): the first ring of such a service's channels.
 */
export const DEFAULT_SERVICE_RING_DATA_SIZE = 64 * 1024;

/**
 * What `elastic: true` means (and what a mapping leaves out). The minimum is not here: it is the
 * service's first ring (its `ringDataSize`, see {@link firstRingDataSize}), and never less, so an
 * event that fits the ring the service is configured with fits every window its channels move to.
 */
export const ELASTIC_DEFAULTS = {
  maxRingDataSize: 1024 * 1024,
  growAtPercent: 75,
  shrinkAtPercent: 10,
  growAfterMs: 200,
  shrinkAfterMs: 5000,
  moveTimeoutMs: 2000,
} as const;

const KEYS = [
  'minRingDataSize',
  'maxRingDataSize',
  'growAtPercent',
  'shrinkAtPercent',
  'growAfterMs',
  'shrinkAfterMs',
  'moveTimeoutMs',
] as const;

/** What the elastic bounds are checked against. */
export interface ElasticBounds {
  readonly pageGranule: PageGranule;
  /** Bytes of the region's data section, when the region is valid. */
  readonly dataSize: number | undefined;
  /** The service's own `ringDataSize`, when set: it must lie within the bounds. */
  readonly ringDataSize: number | undefined;
  /** The service's consumers, when they resolved (their `limits.windowBytes`). */
  readonly consumers: readonly VmConfig[] | undefined;
  /** `isolation: device` services never move: their memory is plugged once per channel. */
  readonly isolation: 'region' | 'device';
}

/**
 * Reads `elastic` at `p`: `false` or absent → undefined (fixed window); `true` → the defaults;
 * a mapping → its keys over the defaults. Returns `null` (with issues reported) when invalid.
 */
export function parseElastic(
  ctx: ConfigBuildContext,
  p: string,
  entry: FieldEntry | undefined,
  bounds: ElasticBounds,
): ElasticWindow | undefined | null {
  if (entry === undefined) return undefined;
  const r = ctx.r;
  const path = `${p}.elastic`;
  const node = r.resolve(entry.value, path);
  const scalar = node as { value?: unknown } | null;
  if (scalar !== null && typeof scalar.value === 'boolean') {
    if (!scalar.value) return undefined;
    return checked(ctx, path, entry.key, withDefaults({}, bounds), bounds);
  }
  const m = r.map(entry.value, path, [], KEYS, entry.key);
  if (!m) return null;
  const read: Partial<Record<(typeof KEYS)[number], { n: number; node: Node }>> = {};
  let ok = true;
  for (const k of KEYS) {
    const e = m.get(k);
    if (e === undefined) continue;
    const n = readKey(ctx, `${path}.${k}`, k, e, bounds.pageGranule);
    if (n === undefined) ok = false;
    else read[k] = { n, node: e.value ?? e.key };
  }
  if (!ok) return null;
  const values = Object.fromEntries(Object.entries(read).map(([k, v]) => [k, v.n]));
  return checked(ctx, path, entry.key, withDefaults(values, bounds), bounds, read);
}

/** The ring a channel of the service starts with: its `ringDataSize`, else hostd's default. */
export function firstRingDataSize(b: Pick<ElasticBounds, 'ringDataSize' | 'pageGranule'>): number {
  return b.ringDataSize ?? Math.max(DEFAULT_SERVICE_RING_DATA_SIZE, b.pageGranule);
}

function withDefaults(values: Partial<ElasticWindow>, b: ElasticBounds): ElasticWindow {
  return { minRingDataSize: firstRingDataSize(b), ...ELASTIC_DEFAULTS, ...values };
}

function readKey(
  ctx: ConfigBuildContext,
  path: string,
  key: (typeof KEYS)[number],
  e: FieldEntry,
  granule: PageGranule,
): number | undefined {
  const r = ctx.r;
  switch (key) {
    case 'minRingDataSize':
    case 'maxRingDataSize': {
      const size = r.size(e.value, path, e.key);
      if (!size) return undefined;
      if (!isPowerOfTwo(size.bytes) || size.bytes < granule) {
        r.report(
          size.node,
          path,
          `${r.shown(size.node)} must be a power of two of at least ${formatSize(granule)} (a ring's data area per direction)`,
        );
        return undefined;
      }
      return size.bytes;
    }
    case 'growAtPercent':
      return r.integer(e.value, path, 1, 100, 'decimal', e.key);
    case 'shrinkAtPercent':
      return r.integer(e.value, path, 0, 99, 'decimal', e.key);
    case 'growAfterMs':
      return r.integer(e.value, path, 10, 60_000, 'decimal', e.key);
    case 'shrinkAfterMs':
      return r.integer(e.value, path, 100, 86_400_000, 'decimal', e.key);
    case 'moveTimeoutMs':
      return r.integer(e.value, path, 100, 60_000, 'decimal', e.key);
  }
}

/** The checks between keys and against the region, the service and its consumers. */
function checked(
  ctx: ConfigBuildContext,
  path: string,
  keyNode: Node,
  w: ElasticWindow,
  b: ElasticBounds,
  read: Partial<Record<(typeof KEYS)[number], { node: Node }>> = {},
): ElasticWindow | null {
  const r = ctx.r;
  const at = (k: (typeof KEYS)[number]): Node => read[k]?.node ?? keyNode;
  const problems: [Node, string, string][] = [];
  if (b.isolation === 'device') {
    problems.push([
      keyNode,
      path,
      'an isolation: device channel keeps the memory plugged for it; remove elastic or use isolation: region',
    ]);
  }
  problems.push(...floorProblems(path, w, b, read, at));
  if (w.shrinkAtPercent >= w.growAtPercent) {
    problems.push([
      at('shrinkAtPercent'),
      `${path}.shrinkAtPercent`,
      `${w.shrinkAtPercent} must be below growAtPercent ${w.growAtPercent}, or a channel would grow and shrink in turn`,
    ]);
  }
  const rds = b.ringDataSize;
  if (rds !== undefined && (rds < w.minRingDataSize || rds > w.maxRingDataSize)) {
    problems.push([
      keyNode,
      path,
      `the service's ringDataSize ${formatSize(rds)} (its channels' first window) is outside ${formatSize(w.minRingDataSize)}..${formatSize(w.maxRingDataSize)}`,
    ]);
  }
  const maxWindow = windowLayout(b.pageGranule).windowLength(w.maxRingDataSize);
  if (b.dataSize !== undefined && maxWindow > b.dataSize) {
    problems.push([
      at('maxRingDataSize'),
      `${path}.maxRingDataSize`,
      `${formatSize(w.maxRingDataSize)} gives a ${formatSize(maxWindow)} window, more than the region's data section (${formatSize(b.dataSize)}); lower it or raise region.size`,
    ]);
  }
  for (const vm of b.consumers ?? []) {
    if (maxWindow <= vm.limits.windowBytes) continue;
    problems.push([
      at('maxRingDataSize'),
      `${path}.maxRingDataSize`,
      `${formatSize(w.maxRingDataSize)} gives a ${formatSize(maxWindow)} window, more than consumer '${vm.name}' may hold (limits.windowBytes ${formatSize(vm.limits.windowBytes)}); lower it or raise that VM's windowBytes`,
    ]);
  }
  for (const [node, where, text] of problems) r.report(node, where, text);
  return problems.length === 0 ? Object.freeze(w) : null;
}

/**
 * The minimum against the service's first ring and the maximum. A minimum below the first ring
 * is refused: a channel shrunk below it could no longer carry an event that fits the ring the
 * service is configured with, and its publisher would have to drop it for that consumer alone.
 */
function floorProblems(
  path: string,
  w: ElasticWindow,
  b: ElasticBounds,
  read: Partial<Record<(typeof KEYS)[number], { node: Node }>>,
  at: (k: (typeof KEYS)[number]) => Node,
): [Node, string, string][] {
  const first = firstRingDataSize(b);
  const ring =
    b.ringDataSize === undefined
      ? `the ring its channels start with (${formatSize(first)}, hostd's default; ringDataSize sets another)`
      : `the service's ringDataSize ${formatSize(first)}`;
  const problems: [Node, string, string][] = [];
  if (read.minRingDataSize !== undefined && w.minRingDataSize < first) {
    problems.push([
      at('minRingDataSize'),
      `${path}.minRingDataSize`,
      `${formatSize(w.minRingDataSize)} is below ${ring}: an event that fits that ring would not fit a channel shrunk below it; leave minRingDataSize out or set it to ${formatSize(first)}`,
    ]);
  }
  if (read.minRingDataSize !== undefined && w.minRingDataSize > w.maxRingDataSize) {
    problems.push([
      at('minRingDataSize'),
      `${path}.minRingDataSize`,
      `${formatSize(w.minRingDataSize)} is more than maxRingDataSize ${formatSize(w.maxRingDataSize)}`,
    ]);
  } else if (b.ringDataSize === undefined && first > w.maxRingDataSize) {
    problems.push([
      at('maxRingDataSize'),
      `${path}.maxRingDataSize`,
      `${formatSize(w.maxRingDataSize)} is below ${ring}; raise it or set a smaller ringDataSize`,
    ]);
  }
  return problems;
}
