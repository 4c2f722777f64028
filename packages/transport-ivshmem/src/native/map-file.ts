import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { callNative } from './native-call.js';

/** Options of {@link mapFile}. */
export interface MapFileOptions {
  /** Map read-write (the file is opened O_RDWR); default false (read-only). */
  readonly writable?: boolean;
  /**
   * Pre-fault every page at map time (MAP_POPULATE); default false. Costs the faults up front
   * (less in total than faulting page by page; docs/performance.md §5) so rings and slots never take one
   * on the data path.
   */
  readonly populate?: boolean;
}

/** Opaque token of one mapping; pass it to {@link unmap}. */
export interface MappingHandle {
  readonly __brand: 'sivshm.MappingHandle';
}

/** One `mmap(MAP_SHARED)` of a file or device, seen through two aliasing buffers. */
export interface MappedFile {
  /** The mapping as a SharedArrayBuffer: use it for control words and `Atomics`. */
  readonly shared: SharedArrayBuffer;
  /**
   * The same memory as a non-shared ArrayBuffer: use it for bulk copies (`TypedArray.set` is
   * faster on it than on the SharedArrayBuffer; docs/performance.md §5). Detached by {@link unmap}.
   */
  readonly bulk: ArrayBuffer;
  /** Pass to {@link unmap}. */
  readonly handle: MappingHandle;
}

const MAX_LENGTH = 2 ** 46;

function checkInteger(name: string, v: unknown, min: number, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `${name} must be an integer in ${min}..${max}, got ${String(v)}`,
    );
  }
}

/**
 * Maps `length` bytes at `offset` of a file, device or fd, shared with every other process
 * that maps it.
 *
 * Use it for the region file under /dev/shm (emulated mode), the sysfs BAR2 `resource2`, or
 * an fd from `/dev/sivshm`. A path is opened and closed again (the mapping keeps the file);
 * an fd stays owned by the caller. `offset` must be page-aligned; for regular files
 * `offset + length` must not exceed the file size (touching past the end would raise SIGBUS).
 * A mapping of a regular file is registered with the SIGBUS guard: if another process
 * truncates the file later, an access past the new end reads and writes private zero pages
 * instead of killing this process, and {@link mappingLost} says so (sigbus-guard.ts).
 *
 * After {@link unmap}, `bulk` is detached (length 0) and the range behind `shared` is an
 * inaccessible PROT_NONE reservation: a stale access crashes the process with SIGSEGV rather
 * than reading memory someone else mapped there. The reservation is released once V8 has
 * collected every buffer of the mapping.
 *
 * @example
 * ```ts
 * const m = mapFile('/dev/shm/sivshm-region', 0, 1 << 20, { writable: true });
 * Atomics.store(new Int32Array(m.shared), 0, 1);
 * unmap(m.handle);
 * ```
 */
export function mapFile(
  file: string | number,
  offset: number,
  length: number,
  options: MapFileOptions = {},
): MappedFile {
  if (typeof file === 'string') {
    if (file.length === 0 || file.includes('\0')) {
      throw new TransportError('ERR_BAD_ARGUMENT', 'path must be non-empty without NUL bytes');
    }
  } else {
    checkInteger('fd', file, 0, 2 ** 31 - 1);
  }
  checkInteger('offset', offset, 0, MAX_LENGTH);
  checkInteger('length', length, 1, MAX_LENGTH);
  const writable = options.writable ?? false;
  const populate = options.populate ?? false;
  if (typeof writable !== 'boolean' || typeof populate !== 'boolean') {
    throw new TransportError('ERR_BAD_ARGUMENT', 'options.writable and populate must be booleans');
  }
  const addon = loadAddon();
  const m = callNative(() => addon.mapFile(file, offset, length, { writable, populate }));
  return { shared: m.shared, bulk: m.bulk, handle: m.handle as MappingHandle };
}

/**
 * Ends a mapping made by {@link mapFile}. Returns false if it was already unmapped.
 *
 * Call it when the channel or region closes; see {@link mapFile} for what stale views do.
 */
export function unmap(handle: MappingHandle): boolean {
  const addon = loadAddon();
  return callNative(() => addon.unmap(handle));
}

/** Options of {@link createRegionFile}. */
export interface CreateRegionFileOptions {
  /** Fail with EEXIST if the file exists (O_EXCL); default false. */
  readonly exclusive?: boolean;
}

/**
 * Creates (or opens) a region file with mode 0600 and grows it to `size` bytes; returns an
 * O_RDWR fd that the caller closes with `closeFd`.
 *
 * Use it in hostd and tests to make the /dev/shm file that emulated-mode VMs map. It never
 * shrinks an existing file, since processes already mapping it would fault.
 */
export function createRegionFile(
  path: string,
  size: number,
  options: CreateRegionFileOptions = {},
): number {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new TransportError('ERR_BAD_ARGUMENT', 'path must be a non-empty string without NUL');
  }
  checkInteger('size', size, 1, MAX_LENGTH);
  const addon = loadAddon();
  return callNative(() =>
    addon.createRegionFile(path, size, { exclusive: options.exclusive ?? false }),
  );
}

/**
 * Creates an anonymous shared-memory file (memfd) of `size` bytes; returns its fd.
 *
 * Use it when the region needs no name, e.g. an ivshmem server handing the fd to its clients.
 */
export function memfdCreate(name: string, size: number): number {
  if (typeof name !== 'string' || name.length === 0 || name.length > 249 || name.includes('\0')) {
    throw new TransportError('ERR_BAD_ARGUMENT', 'memfd name must be 1..249 characters, no NUL');
  }
  checkInteger('size', size, 1, MAX_LENGTH);
  const addon = loadAddon();
  return callNative(() => addon.memfdCreate(name, size));
}

/** Size in bytes of the file behind `fd` (`fstat`). */
export function fileSize(fd: number): number {
  checkInteger('fd', fd, 0, 2 ** 31 - 1);
  const addon = loadAddon();
  return callNative(() => addon.fileSize(fd));
}

/**
 * Address ranges this process still holds for mappings: live ones plus the PROT_NONE
 * reservations of unmapped ones whose buffers V8 has not collected yet.
 *
 * Use it for leak checks and diagnostics; it falls back toward the live count after GC.
 */
export function liveMappingCount(): number {
  return loadAddon().liveRegions();
}
