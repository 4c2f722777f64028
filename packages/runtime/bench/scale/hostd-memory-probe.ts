// Loaded into the scale bench's hostd only (`--expose-gc --import <this file>`), never by hostd
// itself: on SIGUSR2 it collects garbage and writes the process's memory figures to
// `hostdMemoryFile(pid)`, so the bench can tell what hostd keeps per channel (live heap, array
// buffers, RSS after a collection) from garbage V8 has not collected yet.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { hostdMemoryFile, type HostdMemory } from './hostd-memory-file.js';

const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  // Twice: the first collection can leave objects whose finalizers free more on the second.
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string): number =>
    1024 * Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const out: HostdMemory = {
    collected: gc !== undefined,
    heapUsedBytes: m.heapUsed,
    heapTotalBytes: m.heapTotal,
    heapSpaces: Object.fromEntries(
      getHeapSpaceStatistics().map((x) => [x.space_name, x.space_size]),
    ),
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
    rssBytes: m.rss,
    rssAnonBytes: kb('RssAnon'),
    rssShmemBytes: kb('RssShmem'),
  };
  // Written aside and renamed, so the bench never reads half a file.
  const file = hostdMemoryFile(process.pid);
  writeFileSync(`${file}.tmp`, JSON.stringify(out));
  renameSync(`${file}.tmp`, file);
});
