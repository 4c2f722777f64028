import { loadAddon } from './addon.js';
import { checkFd } from './fd.js';
import type { MappingHandle } from './map-file.js';
import { callNative } from './native-call.js';

/** What {@link sigbusGuardInfo} reports about this process's SIGBUS guard. */
export interface SigbusGuardInfo {
  /** Whether the handler is installed (it is, from the first mapping of a regular file on). */
  readonly installed: boolean;
  /** The SIGBUS disposition it chains to for faults it does not absorb. */
  readonly previous: 'none' | 'default' | 'ignore' | 'handler';
  /** Faults absorbed so far in this process (accesses past the end of a truncated file). */
  readonly absorbed: number;
  /** Mappings guarded now. */
  readonly guarded: number;
  /** Mappings made unguarded because the guard's table was full (they die by SIGBUS as before). */
  readonly unguarded: number;
}

/**
 * The state of the SIGBUS guard that every {@link mapFile} of a regular file is registered
 * with.
 *
 * When another process truncates a mapped file, an access past its new end would raise SIGBUS
 * and kill this process. The guard absorbs that fault instead: from the faulting page to the
 * end of that mapping the pages become private zero pages, the access completes, and the
 * mapping reads as lost ({@link mappingLost}). Device mappings (`/dev/sivshm`) are not guarded:
 * their SIGBUS is the kernel module refusing an access, and it still ends the process.
 */
export function sigbusGuardInfo(): SigbusGuardInfo {
  return loadAddon().sigbusGuardInfo();
}

let counter: Int32Array | undefined;

/**
 * How many faults the guard has absorbed in this process. One `Atomics.load` of a word the
 * signal handler counts in: cheap enough for a receive loop to read on every turn.
 */
export function absorbedFaultCount(): number {
  counter ??= new Int32Array(loadAddon().sigbusCounter());
  return Atomics.load(counter, 0);
}

/**
 * True when the guard absorbed a fault in this mapping: the file was truncated under it and
 * part of what this process sees through it is now private zeros, not the shared file.
 *
 * Use it to stop trusting the mapping; {@link remapFile} maps the file again once it is
 * restored.
 */
export function mappingLost(handle: MappingHandle): boolean {
  return callNative(() => loadAddon().mappingInfo(handle).lost);
}

/**
 * A cheap check of one mapping for the hot path: it reads the process-wide absorbed-fault
 * count and asks about the mapping only when that count changed since the last call.
 *
 * @example
 * ```ts
 * const m = mapFile('/dev/shm/sivshm-region', 0, 1 << 20, { writable: true });
 * const lost = lossProbe(m.handle);
 * if (lost()) console.error('the region file was truncated under us');
 * ```
 */
export function lossProbe(handle: MappingHandle): () => boolean {
  let seen = -1;
  let lost = false;
  return () => {
    if (lost) return true;
    const n = absorbedFaultCount();
    if (n === seen) return false;
    seen = n;
    lost = mappingLost(handle);
    return lost;
  };
}

/**
 * Maps the file behind `fd` over the mapping's own addresses again (same offset, length and
 * protection), so every buffer and view of it sees the shared file instead of the zero pages
 * the guard put in; the mapping is no longer lost.
 *
 * Use it after restoring a truncated file to its size (hostd does, for its region). Throws
 * `ERR_BAD_ARGUMENT` when the file is still shorter than the mapping.
 */
export function remapFile(handle: MappingHandle, fd: number): void {
  checkFd(fd);
  callNative(() => loadAddon().remap(handle, fd));
}
