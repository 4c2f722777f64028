// What the scale bench's hostd memory probe reports and where: shared by the probe (inside
// hostd, so it imports nothing else of the repo) and the bench's reader.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** hostd's memory just after a full garbage collection. */
export interface HostdMemory {
  /** False when hostd did not run with `--expose-gc` (the figures then include garbage). */
  readonly collected: boolean;
  /** Live JavaScript heap. */
  readonly heapUsedBytes: number;
  /** The heap V8 has reserved (live objects and room to allocate in), and per space. */
  readonly heapTotalBytes: number;
  readonly heapSpaces: Readonly<Record<string, number>>;
  /** Memory of C++ objects bound to JavaScript ones (buffers included). */
  readonly externalBytes: number;
  readonly arrayBuffersBytes: number;
  readonly rssBytes: number;
  /** Resident private memory (heap, code, malloc): what hostd itself keeps. */
  readonly rssAnonBytes: number;
  /**
   * Resident shared memory: the region's pages hostd touched (it zeroes each window it hands
   * out), which are the channels' own memory, counted once however many processes map them.
   */
  readonly rssShmemBytes: number;
}

/** Where the probe in process `pid` writes its figures. */
export function hostdMemoryFile(pid: number): string {
  return join(tmpdir(), `sivshm-scale-hostd-memory-${pid}.json`);
}
