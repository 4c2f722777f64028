import path from 'node:path';
import { isPendingTimeoutMs } from '@sivshm/core';
import { HostdError } from './errors/hostd-error.js';
import { LOG_LEVELS, type LogLevel } from './log/logger.js';
import { parseMetricsAddress, type MetricsAddress } from './metrics/metrics-server.js';

/** hostd's pending-handshake deadline for emulated VMs (processes on the host), ms. */
export const EMULATED_HANDSHAKE_DEADLINE_MS = 1000;
/**
 * The default deadline with `--qemu`: a guest's handshake runs its Ed25519 work on a vCPU, which
 * under TCG or on a loaded host takes several times as long as a host process.
 */
export const QEMU_HANDSHAKE_DEADLINE_MS = 5000;

/** Usage text of `sivshm-hostd` (and `sivshm hostd`). */
export const HOSTD_USAGE = `usage: sivshm-hostd --config services.yaml [--state-dir D] [--run-dir D] [--log-level L]

The sivshm hypervisor daemon: region owner, CA, channel broker, SD switch, doorbell server.

  --config FILE     services.yaml (required)
  --state-dir DIR   persistent state, the CA lives in DIR/ca (default /var/lib/sivshm)
  --run-dir DIR     sockets: <vm>.sock per VM, status.sock, ivshmem.sock (default /run/sivshm)
  --log-level L     ${LOG_LEVELS.join(' | ')} (default info); JSON lines on stderr
  --qemu            qemu mode: do not send grant keys over the control link
  --vm-timeout MS   drop a VM's link after MS ms without a frame from it (default 0: never)
  --handshake-deadline-ms MS  abort a channel handshake not finished MS ms after its request
                    (1..60000; default ${EMULATED_HANDSHAKE_DEADLINE_MS}, with --qemu ${QEMU_HANDSHAKE_DEADLINE_MS}: a guest signs and verifies slower)
  --metrics HOST:PORT  serve Prometheus/OpenMetrics text at http://HOST:PORT/metrics
                    (loopback only unless --metrics-allow-remote; a bare PORT is 127.0.0.1)
  --metrics-allow-remote  let --metrics listen on a non-loopback address
  -h, --help        this text
`;

/** Parsed command line of hostd. */
export interface HostdArgs {
  readonly configPath: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly logLevel: LogLevel;
  readonly emulated: boolean;
  readonly vmSilenceTimeoutMs: number;
  /** hostd's pending-handshake deadline, ms (`--handshake-deadline-ms`, else the mode's default). */
  readonly handshakeDeadlineMs: number;
  readonly metrics?: MetricsAddress;
  readonly help: boolean;
}

/** Parses hostd's arguments (without `node` and the script); throws `ERR_ARGS` with the reason. */
export function parseHostdArgs(argv: readonly string[]): HostdArgs {
  let configPath: string | undefined;
  let stateDir = '/var/lib/sivshm';
  let runDir = '/run/sivshm';
  let logLevel: LogLevel = 'info';
  let emulated = true;
  let vmSilenceTimeoutMs = 0;
  let handshakeDeadlineMs: number | undefined;
  let help = false;
  let metricsText: string | undefined;
  let allowRemote = false;
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--'))
      throw new HostdError('ERR_ARGS', `${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') help = true;
    else if (a === '--config') configPath = path.resolve(value(++i, a));
    else if (a === '--state-dir') stateDir = path.resolve(value(++i, a));
    else if (a === '--run-dir') runDir = path.resolve(value(++i, a));
    else if (a === '--qemu') emulated = false;
    else if (a === '--metrics') metricsText = value(++i, a);
    else if (a === '--metrics-allow-remote') allowRemote = true;
    else if (a === '--vm-timeout') {
      const v = value(++i, a);
      vmSilenceTimeoutMs = Number(v);
      if (!/^\d+$/.test(v) || vmSilenceTimeoutMs > 3_600_000) {
        throw new HostdError(
          'ERR_ARGS',
          `--vm-timeout ${v} must be a whole number of ms, 0..3600000`,
        );
      }
    } else if (a === '--handshake-deadline-ms') {
      const v = value(++i, a);
      handshakeDeadlineMs = Number(v);
      if (!/^\d+$/.test(v) || !isPendingTimeoutMs(handshakeDeadlineMs)) {
        throw new HostdError(
          'ERR_ARGS',
          `--handshake-deadline-ms ${v} must be a whole number of ms, 1..60000`,
        );
      }
    } else if (a === '--log-level') {
      const l = value(++i, a);
      if (!(LOG_LEVELS as readonly string[]).includes(l)) {
        throw new HostdError('ERR_ARGS', `--log-level ${l} is not one of ${LOG_LEVELS.join(', ')}`);
      }
      logLevel = l as LogLevel;
    } else throw new HostdError('ERR_ARGS', `unknown argument ${a}`);
  }
  if (configPath === undefined && !help)
    throw new HostdError('ERR_ARGS', '--config services.yaml is required');
  const metrics =
    metricsText === undefined ? undefined : parseMetricsAddress(metricsText, allowRemote);
  return {
    ...(metrics === undefined ? {} : { metrics }),
    configPath: configPath ?? '',
    stateDir,
    runDir,
    logLevel,
    emulated,
    vmSilenceTimeoutMs,
    handshakeDeadlineMs:
      handshakeDeadlineMs ??
      (emulated ? EMULATED_HANDSHAKE_DEADLINE_MS : QEMU_HANDSHAKE_DEADLINE_MS),
    help,
  };
}
