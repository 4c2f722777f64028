/**
 * `sivshm … | head -1`: once the reader has closed the pipe, the next write to the stream fails
 * with EPIPE. That is the reader saying it has what it wanted, not a failure, so every binary
 * of the repo ends silently then, with exit 0 (or stops cleanly first, as a daemon does on
 * SIGTERM). Calls `readerGone` on the stream's first EPIPE; every later write fails the same
 * way and is ignored. Any other error of the stream stays a failure: it is rethrown.
 *
 * @example
 * ```ts
 * import { onReaderGone } from '@sivshm/core';
 * onReaderGone(process.stdout, () => process.exit());
 * ```
 */
export function onReaderGone(stream: NodeJS.WritableStream, readerGone: () => void): void {
  let gone = false;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    if (gone) return;
    gone = true;
    readerGone();
  });
}
