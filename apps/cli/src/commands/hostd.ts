import path from 'node:path';
import { Option, type Command } from 'commander';
import { wholeNumber } from '../args/whole-number.js';
import { runPackageBinary } from '../io/package-binary.js';

/** Registers `sivshm hostd`, which runs the `sivshm-hostd` daemon in the foreground. */
export function registerHostdCommand(program: Command): void {
  program
    .command('hostd')
    .description(
      'run the hostd daemon in the foreground (same as sivshm-hostd): region, CA, broker, SD switch',
    )
    .requiredOption('--config <file>', 'services.yaml')
    .option('--state-dir <dir>', 'persistent state (the CA lives in DIR/ca)', '/var/lib/sivshm')
    .option(
      '--run-dir <dir>',
      'sockets: <vm>.sock per VM, status.sock, ivshmem.sock',
      '/run/sivshm',
    )
    // The daemon checks these again; checking them here makes a mistake a `sivshm hostd` line.
    .addOption(
      new Option('--log-level <level>', 'log threshold')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .option('--qemu', 'qemu mode: do not send grant keys over the control link')
    .option(
      '--metrics <host:port>',
      'serve Prometheus/OpenMetrics text at http://HOST:PORT/metrics (loopback unless allowed)',
    )
    .option('--metrics-allow-remote', 'let --metrics listen on a non-loopback address')
    .option(
      '--vm-timeout <ms>',
      "drop a VM's link after MS ms without a frame from it (0: never; at most 3600000)",
      (v) => String(wholeNumber(v, 'vm timeout', 0, 3_600_000)),
      '0',
    )
    .action(
      async (opts: {
        config: string;
        stateDir: string;
        runDir: string;
        logLevel: string;
        qemu?: boolean;
        vmTimeout: string;
        metrics?: string;
        metricsAllowRemote?: boolean;
      }) => {
        const args = [
          '--config',
          path.resolve(opts.config),
          '--state-dir',
          path.resolve(opts.stateDir),
          '--run-dir',
          path.resolve(opts.runDir),
          '--log-level',
          opts.logLevel,
          '--vm-timeout',
          opts.vmTimeout,
          ...(opts.qemu === true ? ['--qemu'] : []),
          ...(opts.metrics === undefined ? [] : ['--metrics', opts.metrics]),
          ...(opts.metricsAllowRemote === true ? ['--metrics-allow-remote'] : []),
        ];
        process.exitCode = await runPackageBinary(import.meta.resolve('@sivshm/hostd'), args);
      },
    );
}
