/** What the cluster VM process reports to the demo once a second (over IPC). */
export interface ClusterReport {
  readonly kind: 'cluster';
  /** Speed events received in total. */
  readonly events: number;
  /** Method round trips so far, ms (all of them: one call a second keeps this small). */
  readonly rttMs: readonly number[];
  readonly failedCalls: number;
  /** Handshake time per service (M1 sent → grant verified), ms. */
  readonly handshakeMs: Readonly<Record<string, number | undefined>>;
  /** Status per consumed service. */
  readonly status: Readonly<Record<string, string>>;
  /** Channel protection per consumed service (plain, mac, aead). */
  readonly modes?: Readonly<Record<string, string>>;
  readonly reconnects: number;
  readonly lastKph?: number;
}

/** What the infotainment VM process reports to the demo once a second. */
export interface InfotainmentReport {
  readonly kind: 'infotainment';
  readonly published: number;
  /** Speed samples published while a consumer was connected. */
  readonly sent: number;
  readonly dropped: number;
  readonly consumers: Readonly<Record<string, number>>;
  readonly mediaCalls: number;
}

/** A VM process's first message once its node is open and its services are set up. */
export interface ReadyReport {
  readonly kind: 'ready';
  readonly vm: string;
}

/** A VM process could not start. */
export interface FailedReport {
  readonly kind: 'failed';
  readonly vm: string;
  readonly message: string;
}

/** Anything a VM process sends to the demo. */
export type VmReport = ClusterReport | InfotainmentReport | ReadyReport | FailedReport;

/** Arguments every VM process gets: config path, run dir. */
export function vmArgs(): { config: string; runDir: string } {
  const [config, runDir] = process.argv.slice(2);
  if (config === undefined || runDir === undefined) {
    throw new Error('usage: <vm> <services.yaml> <run-dir> (started by the demo)');
  }
  return { config, runDir };
}

/** Sends a report to the demo (no-op when not forked). */
export function report(r: VmReport): void {
  if (process.connected) process.send?.(r);
}

/**
 * Runs `stop` once when the demo asks ({cmd:'exit'}) or goes away; Ctrl-C is the demo's to
 * handle (it reaches the whole process group), so it is ignored here.
 */
export function onStopRequest(stop: () => Promise<void>): void {
  let stopping = false;
  const once = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => {
        process.disconnect?.();
        process.exitCode ??= 0;
      },
      (e: unknown) => {
        process.stderr.write(`stop failed: ${(e as Error).message}\n`);
        process.exitCode = 1;
        process.disconnect?.();
      },
    );
  };
  process.on('SIGINT', () => undefined);
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'exit') once();
  });
  process.on('disconnect', once);
}

/**
 * Runs `quiesce` when the demo asks ({cmd:'quiesce'}) before stopping: a provider stops
 * publishing and reports its final count, so what is still in flight reaches the consumer
 * before the channel closes and the summary compares like with like.
 */
export function onQuiesceRequest(quiesce: () => void): void {
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'quiesce') quiesce();
  });
}
