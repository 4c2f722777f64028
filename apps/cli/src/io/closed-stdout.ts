import { onReaderGone } from '@sivshm/core';

/**
 * `sivshm … | head -1`: once the reader has closed the pipe, the next write to stdout fails with
 * EPIPE. That is the reader saying it has what it wanted, not a failure of the command, so the
 * process ends at once, silently, with the exit code it already had (0 unless a failure was
 * reported before). A command that listens for it itself (`echo` ends its subscriptions first)
 * is left to end on its own. Any other stdout error stays a failure: it is rethrown and reaches
 * the one-line report of bin.ts.
 */
export function endQuietlyWhenStdoutReaderCloses(): void {
  onReaderGone(process.stdout, () => {
    if (process.stdout.listenerCount('error') > 1) return;
    process.exit();
  });
}
