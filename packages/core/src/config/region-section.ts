/**
 * The `region` section of services.yaml: size, channel-table capacity, file path and page
 * granule.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  MAX_CHANNEL_CAPACITY,
  MAX_REGION_SIZE,
  MIN_REGION_SIZE,
  PAGE_GRANULES,
  isPageGranule,
  type PageGranule,
} from '@sivshm/abi';
import type { ConfigBuildContext } from './config-build-context.js';
import { formatSize, isPowerOfTwo } from './config-numbers.js';
import { NON_EMPTY } from './config-patterns.js';
import type { RegionConfig } from './config-types.js';
import { DEFAULT_CHANNEL_CAPACITY, regionTooSmall } from './region-budget.js';
import type { FieldEntry } from './yaml-reader.js';

/** Reads `region`; undefined (with issues reported) when it is missing or invalid. */
export function parseRegion(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
): RegionConfig | undefined {
  if (!entry) return undefined;
  const r = ctx.r;
  const m = r.map(
    entry.value,
    'region',
    ['size'],
    ['path', 'channelCapacity', 'pageGranule'],
    entry.key,
  );
  if (!m) return undefined;
  const size = regionSize(ctx, m.get('size'));
  const capEntry = m.get('channelCapacity');
  const capacity = capEntry
    ? r.integer(
        capEntry.value,
        'region.channelCapacity',
        1,
        MAX_CHANNEL_CAPACITY,
        'decimal',
        capEntry.key,
      )
    : DEFAULT_CHANNEL_CAPACITY;
  const pathEntry = m.get('path');
  const regionPath = pathEntry
    ? r.string(pathEntry.value, 'region.path', NON_EMPTY, pathEntry.key)
    : defaultRegionPath(ctx);
  const pageGranule = parsePageGranule(ctx, m.get('pageGranule'));
  if (!size || capacity === undefined || regionPath === undefined || !pageGranule) return undefined;
  const tooSmall = regionTooSmall(size.bytes, capacity, pageGranule);
  if (tooSmall) {
    r.report(size.node, 'region.size', tooSmall);
    return undefined;
  }
  return Object.freeze({
    size: size.bytes,
    path: path.resolve(ctx.baseDir, regionPath),
    channelCapacity: capacity,
    pageGranule,
  });
}

/**
 * `region.pageGranule`: 4096 (default, layout v1), 16384 or 65536 — at least the largest
 * kernel page size of the VMs, or sivshm.ko refuses every grant on the VMs with larger pages.
 */
function parsePageGranule(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
): PageGranule | undefined {
  if (!entry) return PAGE_GRANULES[0];
  const r = ctx.r;
  const n = r.integer(entry.value, 'region.pageGranule', 1, 2 ** 31, 'decimal', entry.key);
  if (n === undefined) return undefined;
  if (!isPageGranule(n)) {
    r.report(
      r.resolve(entry.value, 'region.pageGranule'),
      'region.pageGranule',
      `${n} is not a page granule: use 4096 (x86-64 and 4 KiB arm64 kernels), 16384 or 65536 (the largest kernel page size among the VMs)`,
    );
    return undefined;
  }
  return n;
}

/** `region.size`: a power of two (QEMU requires one) within the accepted range. */
function regionSize(
  ctx: ConfigBuildContext,
  sizeEntry: FieldEntry | undefined,
): ReturnType<ConfigBuildContext['r']['size']> {
  const r = ctx.r;
  const size = sizeEntry && r.size(sizeEntry.value, 'region.size', sizeEntry.key);
  if (!size) return undefined;
  const shown = r.shown(size.node);
  if (!isPowerOfTwo(size.bytes)) {
    r.report(size.node, 'region.size', `${shown} is not a power of two (QEMU requires one)`);
    return undefined;
  }
  if (size.bytes < MIN_REGION_SIZE || size.bytes > MAX_REGION_SIZE) {
    r.report(
      size.node,
      'region.size',
      `${shown} is out of range ${formatSize(MIN_REGION_SIZE)}..${formatSize(MAX_REGION_SIZE)}`,
    );
    return undefined;
  }
  return size;
}

/** `/dev/shm/sivshm-<config name>-<hash of its absolute path>`: stable, and distinct per file. */
function defaultRegionPath(ctx: ConfigBuildContext): string {
  const abs = path.resolve(ctx.baseDir, path.basename(ctx.file));
  const stem = path
    .basename(ctx.file)
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '_');
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 8);
  return `/dev/shm/sivshm-${stem || 'config'}-${hash}`;
}
