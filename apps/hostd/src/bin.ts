#!/usr/bin/env node
// sivshm-hostd: a composition root. Reads argv, starts the daemon, installs the signal handlers
// that stop it cleanly, and maps failures to exit codes (2 = usage, 1 = anything else).
import { onReaderGone, SivshmError } from '@sivshm/core';
import { HostdError } from './errors/hostd-error.js';
import { Hostd } from './hostd.js';
import { HOSTD_USAGE, parseHostdArgs } from './hostd-args.js';

async function main(): Promise<void> {
  let args;
  try {
    args = parseHostdArgs(process.argv.slice(2));
  } catch (e) {
    // One line: the usage is one --help away, and a supervisor's log keeps one entry per failure.
    process.stderr.write(
      `sivshm-hostd: ${(e as Error).message} (sivshm-hostd --help shows the usage)\n`,
    );
    process.exitCode = 2;
    return;
  }
  if (args.help) {
    process.stdout.write(HOSTD_USAGE);
    return;
  }
  // The handlers go in before the daemon starts: a SIGTERM that arrives between hostd's
  // "started" line and a later registration would meet the default action and kill the
  // process without a clean stop. One that arrives while starting is acted on once started.
  const state: { hostd?: Hostd; early?: string } = {};
  let firstSignalMs: number | undefined;
  const stop = (signal: string): void => {
    const hostd = state.hostd;
    if (hostd === undefined) {
      // A second signal while still starting means "now" (a start that hangs stays stoppable).
      if (state.early !== undefined) process.exit(130);
      state.early = signal;
      return;
    }
    if (firstSignalMs !== undefined) {
      // Ctrl-C reaches the whole process group, and a wrapper (sivshm hostd) forwards it too:
      // a repeat within 2 s is the same request. A later one means "now".
      if (Date.now() - firstSignalMs < 2000) return;
      hostd.log.warn('hostd-forced-exit', { signal });
      process.exit(130);
    }
    firstSignalMs = Date.now();
    hostd.log.info('signal', { signal });
    hostd.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        hostd.log.error('hostd-stop-failed', { error: (e as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The log's reader went away (`sivshm-hostd … 2>&1 | head`): a clean stop, as SIGTERM does,
  // instead of Node's stack dump for an unhandled EPIPE. Every later log line fails the same way.
  onReaderGone(process.stderr, () => stop('EPIPE'));
  state.hostd = await Hostd.start({
    configPath: args.configPath,
    stateDir: args.stateDir,
    runDir: args.runDir,
    logLevel: args.logLevel,
    emulated: args.emulated,
    vmSilenceTimeoutMs: args.vmSilenceTimeoutMs,
    pendingTimeoutMs: args.handshakeDeadlineMs,
    ...(args.metrics === undefined ? {} : { metrics: args.metrics }),
  });
  if (state.early !== undefined) stop(state.early);
}

// `sivshm-hostd --help | head -1`: a reader that has what it wanted is no failure.
onReaderGone(process.stdout, () => process.exit());

main().catch((e: unknown) => {
  const code = SivshmError.isSivshmError(e) ? ` [${e.code}]` : '';
  process.stderr.write(
    `${JSON.stringify({ t: new Date().toISOString(), level: 'error', event: 'hostd-failed', error: `${(e as Error).message}${code}` })}\n`,
  );
  process.exitCode = HostdError.is(e) && e.code === 'ERR_ARGS' ? 2 : 1;
});
