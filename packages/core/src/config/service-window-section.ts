/**
 * A service's channel window in services.yaml: `ringDataSize` (the ring data area per
 * direction, which sets the window every channel of the service gets) and `idleTimeoutMs`
 * (after which a consumer closes an unused channel and its window is reclaimed).
 */
import { windowLayout, type PageGranule } from '@sivshm/abi';
import type { Node } from 'yaml';
import type { ConfigBuildContext } from './config-build-context.js';
import { formatSize, isPowerOfTwo } from './config-numbers.js';
import type { ElasticWindow, ServiceIsolation, VmConfig } from './config-types.js';
import { parseElastic } from './elastic-section.js';
import type { FieldEntry } from './yaml-reader.js';

/** Shortest idle timeout: a channel closed sooner would spend its life in handshakes. */
export const MIN_IDLE_TIMEOUT_MS = 100;
/** Longest idle timeout accepted (one day); catches unit slips (seconds written as ms). */
export const MAX_IDLE_TIMEOUT_MS = 86_400_000;

/** What a service's window is checked against: the region's data section and the VMs' quotas. */
export interface WindowBounds {
  /** Bytes of the region's data section, when the region is valid. */
  readonly dataSize: number | undefined;
  /** The VMs, when they are valid (their `limits.windowBytes`). */
  readonly vms: readonly VmConfig[] | undefined;
  /** The region's page granule: the smallest data area and the window layout. */
  readonly pageGranule: PageGranule;
}

/** The window fields of one service, with the node `ringDataSize` was read from. */
export interface ServiceWindow {
  readonly ringDataSize?: number;
  readonly ringDataSizeNode?: Node;
  readonly idleTimeoutMs?: number;
  /** `elastic` (elastic-section.ts): absent for a fixed window. */
  readonly elastic?: ElasticWindow;
}

/**
 * Reads `ringDataSize` and `idleTimeoutMs` of the service map `m` at `p`; undefined (with issues
 * reported) when either is invalid. The window must fit the region's data section and the
 * window quota of every consumer (`consumerIds`, when they resolved).
 */
export function parseServiceWindow(
  ctx: ConfigBuildContext,
  p: string,
  m: ReadonlyMap<string, FieldEntry>,
  bounds: WindowBounds,
  consumerIds: readonly number[] | undefined,
  isolation: ServiceIsolation = 'region',
): ServiceWindow | undefined {
  const win = readServiceWindow(ctx, p, m.get('ringDataSize'), m.get('idleTimeoutMs'), bounds);
  const ids = new Set(consumerIds);
  const consumers = consumerIds && bounds.vms?.filter((vm) => ids.has(vm.id));
  if (win && consumers) checkWindowQuota(ctx, p, win, consumers, bounds.pageGranule);
  // Checked even when the size is wrong, so one run shows every problem.
  const elastic = parseElastic(ctx, p, m.get('elastic'), {
    pageGranule: bounds.pageGranule,
    dataSize: bounds.dataSize,
    ringDataSize: win?.ringDataSize,
    consumers,
    isolation,
  });
  if (!win || elastic === null) return undefined;
  return elastic === undefined ? win : { ...win, elastic };
}

function readServiceWindow(
  ctx: ConfigBuildContext,
  p: string,
  sizeEntry: FieldEntry | undefined,
  idleEntry: FieldEntry | undefined,
  { dataSize, pageGranule }: WindowBounds,
): ServiceWindow | undefined {
  const r = ctx.r;
  // Both fields are checked even when one is wrong, so one run shows every problem.
  const idleTimeoutMs = idleEntry
    ? r.integer(
        idleEntry.value,
        `${p}.idleTimeoutMs`,
        MIN_IDLE_TIMEOUT_MS,
        MAX_IDLE_TIMEOUT_MS,
        'decimal',
        idleEntry.key,
      )
    : undefined;
  const size = sizeEntry ? ringDataSize(ctx, p, sizeEntry, dataSize, pageGranule) : undefined;
  if ((idleEntry && idleTimeoutMs === undefined) || (sizeEntry && !size)) return undefined;
  return {
    ...(size === undefined ? {} : { ringDataSize: size.bytes, ringDataSizeNode: size.node }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
  };
}

/**
 * `ringDataSize`: a power of two of at least one page granule, its window within the data
 * section.
 */
function ringDataSize(
  ctx: ConfigBuildContext,
  p: string,
  sizeEntry: FieldEntry,
  dataSize: number | undefined,
  granule: PageGranule,
): { bytes: number; node: Node } | undefined {
  const r = ctx.r;
  const size = r.size(sizeEntry.value, `${p}.ringDataSize`, sizeEntry.key);
  if (!size) return undefined;
  const shown = r.shown(size.node);
  if (!isPowerOfTwo(size.bytes) || size.bytes < granule) {
    // The ring indexes wrap by masking, and the kernel maps windows in whole pages.
    r.report(
      size.node,
      `${p}.ringDataSize`,
      `${shown} must be a power of two of at least ${formatSize(granule)} (the ring's data area per direction${granule === 4096 ? '' : ', at least region.pageGranule'})`,
    );
    return undefined;
  }
  const window = windowLayout(granule).windowLength(size.bytes);
  if (dataSize !== undefined && window > dataSize) {
    r.report(
      size.node,
      `${p}.ringDataSize`,
      `${shown} gives a ${formatSize(window)} window, more than the region's data section (${formatSize(dataSize)}); lower it or raise region.size`,
    );
    return undefined;
  }
  return size;
}

/**
 * A consumer whose `limits.windowBytes` is smaller than one window of the service could never
 * open a channel to it (the broker charges the window to the consumer): refused at the size.
 */
function checkWindowQuota(
  ctx: ConfigBuildContext,
  p: string,
  window: ServiceWindow,
  consumers: readonly VmConfig[],
  granule: PageGranule,
): void {
  if (window.ringDataSize === undefined || window.ringDataSizeNode === undefined) return;
  const length = windowLayout(granule).windowLength(window.ringDataSize);
  for (const vm of consumers) {
    if (length <= vm.limits.windowBytes) continue;
    ctx.r.report(
      window.ringDataSizeNode,
      `${p}.ringDataSize`,
      `${ctx.r.shown(window.ringDataSizeNode)} gives a ${formatSize(length)} window, more than consumer '${vm.name}' may hold (limits.windowBytes ${formatSize(vm.limits.windowBytes)}); lower it or raise that VM's windowBytes`,
    );
  }
}
