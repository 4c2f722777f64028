// How a test VM process ends: on {cmd:'exit'} from its parent, or when the IPC channel is lost
// (the parent died), it stops its publishing timer and closes its Node, so no spec leaves an
// orphan process holding channel memory behind.
export function stopOnExitOrDisconnect(
  node: { close(): Promise<void> },
  timer: ReturnType<typeof setInterval>,
): void {
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await node.close();
    process.disconnect?.();
  };
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'exit') void stop();
  });
  process.on('disconnect', () => void stop().catch(() => process.exit(1)));
}
