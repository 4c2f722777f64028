/** A VM's `limits` in services.yaml: handshake rate budget and the window bytes it may hold. */
import { MIN_WINDOW_SIZE, PAGE_SIZE } from '@sivshm/abi';
import type { ConfigBuildContext } from './config-build-context.js';
import { formatSize } from './config-numbers.js';
import type { VmLimits } from './config-types.js';
import type { FieldEntry } from './yaml-reader.js';

/** Limits applied to a VM that gives none (windowBytes is capped to the data section). */
export const DEFAULT_VM_LIMITS: VmLimits = Object.freeze({
  handshakesPerSecond: 20,
  burst: 5,
  pendingHandshakes: 8,
  windowBytes: 4 * 1024 * 1024,
});

/**
 * Reads `vms[i].limits` (`entry` undefined: the defaults). `dataSize` is the region's data
 * section when the region is valid; no VM may hold more window bytes than it has.
 */
export function parseVmLimits(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
  dataSize: number | undefined,
): VmLimits | undefined {
  const r = ctx.r;
  const defaults: VmLimits = {
    ...DEFAULT_VM_LIMITS,
    // A small region cannot promise the default 4 MiB; cap to its page-rounded data section.
    windowBytes:
      dataSize === undefined
        ? DEFAULT_VM_LIMITS.windowBytes
        : Math.min(DEFAULT_VM_LIMITS.windowBytes, Math.floor(dataSize / PAGE_SIZE) * PAGE_SIZE),
  };
  if (!entry) return Object.freeze(defaults);
  const m = r.map(
    entry.value,
    p,
    [],
    [
      'handshakesPerSecond',
      'burst',
      'pendingHandshakes',
      'windowBytes',
      'sdEntriesPerSecond',
      'sdBurst',
    ],
    entry.key,
  );
  if (!m) return undefined;
  const int = (key: string, max: number, fallback: number): number | undefined => {
    const e = m.get(key);
    return e ? r.integer(e.value, `${p}.${key}`, 1, max, 'decimal', e.key) : fallback;
  };
  const handshakesPerSecond = int('handshakesPerSecond', 10_000, defaults.handshakesPerSecond);
  const burst = int('burst', 10_000, defaults.burst);
  const pendingHandshakes = int('pendingHandshakes', 1024, defaults.pendingHandshakes);
  const wEntry = m.get('windowBytes');
  const windowBytes = wEntry ? windowBytesOf(ctx, wEntry, p, dataSize) : defaults.windowBytes;
  const sd = parseSdLimits(ctx, m, p);
  if (
    handshakesPerSecond === undefined ||
    burst === undefined ||
    pendingHandshakes === undefined ||
    windowBytes === undefined ||
    sd === undefined
  ) {
    return undefined;
  }
  return Object.freeze({ handshakesPerSecond, burst, pendingHandshakes, windowBytes, ...sd });
}

/** `limits.windowBytes`: whole pages, at least one minimal window, at most the data section. */
function windowBytesOf(
  ctx: ConfigBuildContext,
  wEntry: FieldEntry,
  p: string,
  dataSize: number | undefined,
): number | undefined {
  const r = ctx.r;
  const w = r.size(wEntry.value, `${p}.windowBytes`, wEntry.key);
  if (!w) return undefined;
  const shown = r.shown(w.node);
  if (w.bytes < MIN_WINDOW_SIZE || w.bytes % PAGE_SIZE !== 0) {
    r.report(
      w.node,
      `${p}.windowBytes`,
      `${shown} must be a whole number of 4 KiB pages and at least ${formatSize(MIN_WINDOW_SIZE)} (one minimal window)`,
    );
    return undefined;
  }
  if (dataSize !== undefined && w.bytes > dataSize) {
    r.report(
      w.node,
      `${p}.windowBytes`,
      `${shown} is more than the region's data section (${formatSize(dataSize)})`,
    );
    return undefined;
  }
  return w.bytes;
}

/** `limits.sdEntriesPerSecond` / `limits.sdBurst`: optional floors of the VM's SD budget. */
function parseSdLimits(
  ctx: ConfigBuildContext,
  m: Map<string, FieldEntry>,
  p: string,
): { sdEntriesPerSecond?: number; sdBurst?: number } | undefined {
  const out: { sdEntriesPerSecond?: number; sdBurst?: number } = {};
  for (const key of ['sdEntriesPerSecond', 'sdBurst'] as const) {
    const e = m.get(key);
    if (!e) continue;
    const v = ctx.r.integer(e.value, `${p}.${key}`, 1, 1_000_000, 'decimal', e.key);
    if (v === undefined) return undefined;
    out[key] = v;
  }
  return out;
}
