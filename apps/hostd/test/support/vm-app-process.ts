// The child side of vm-apps.ts, shared by the VM app processes (provider-app.ts, hog-app.ts,
// consumer-app.ts): how an app reports to the test that forked it and answers its commands.
export const report = (m: Record<string, unknown>): void => void process.send?.(m);

/**
 * Once the app is up: `{cmd:'exit'}` or the test going away runs `close` and lets go of the
 * IPC channel; any other command runs its entry in `commands`. Then tells the test it is ready.
 */
export function serveTest(
  close: () => Promise<void>,
  commands: Readonly<Record<string, () => void>>,
): void {
  const stop = async (): Promise<void> => {
    await close();
    process.disconnect?.();
  };
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'exit') void stop();
    else if (m.cmd !== undefined && Object.hasOwn(commands, m.cmd)) commands[m.cmd]!();
  });
  process.on('disconnect', () => void stop().catch(() => process.exit(1)));
  report({ event: 'ready', pid: process.pid });
}

/** Tells the test the app could not start (vm-apps.ts fails the fork with it) and ends. */
export function reportStartFailure(e: unknown): void {
  report({ event: 'error', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
