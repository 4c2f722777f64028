import path from 'node:path';

/** Channel protection the demo can run every service in. */
export type DemoMode = 'plain' | 'mac' | 'aead';
const MODES: readonly DemoMode[] = ['plain', 'mac', 'aead'];

/** What `npm start -- …` asked for. */
export interface DemoArgs {
  /** Seconds to run; 0 = until Ctrl-C. */
  readonly durationS: number;
  readonly config: string;
  /** The mode every service of the config is set to (its `minMode`). */
  readonly mode: DemoMode;
  /** hostd's --metrics HOST:PORT (hostd checks it: loopback only). */
  readonly metrics?: string;
  readonly help: boolean;
}

/** Usage text of the demo. */
export const DEMO_USAGE = `usage: npm start [-- --duration SECONDS] [--mode MODE] [--config FILE] [--metrics HOST:PORT]

Starts sivshm-hostd and two VM processes on this host (emulated mode): the infotainment VM
offers VehicleSpeed (events at 100 Hz) and MediaControl (method "control"); the cluster VM
finds both through hostd, authenticates a channel to each, subscribes to the speed and calls
the media method once a second. A live view shows events/s, the method's round trip
(p50/p99), the handshake time and the channel state. Ctrl-C stops everything cleanly.

  --duration SECONDS  stop after this many seconds (default 0 = until Ctrl-C)
  --mode MODE         plain, mac or aead (default plain): the protection of every channel
                      (sets every service's minMode); the live view shows each channel's mode
  --config FILE       services.yaml to use (default examples/services.yaml); it must define
                      VMs infotainment and cluster and services VehicleSpeed and MediaControl
  --metrics HOST:PORT passed to hostd: Prometheus/OpenMetrics text at http://HOST:PORT/metrics
                      (loopback only); watch it all with: sivshm top --run-dir <the run dir shown>
  --help              this text
`;

/** Thrown for a bad command line (exit code 2). */
export class UsageError extends Error {}

/** Parses argv (without node and the script). */
export function parseDemoArgs(argv: readonly string[], repoRoot: string): DemoArgs {
  let durationS = 0;
  let config = path.join(repoRoot, 'examples', 'services.yaml');
  let mode: DemoMode = 'plain';
  let help = false;
  let metrics: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') help = true;
    else if (a === '--duration') {
      const v = argv[++i];
      durationS = Number(v);
      if (v === undefined || v === '' || !Number.isFinite(durationS) || durationS < 0) {
        throw new UsageError(`--duration needs a number of seconds ≥ 0, got ${String(v)}`);
      }
    } else if (a === '--mode') {
      const v = argv[++i];
      if (!MODES.includes(v as DemoMode)) {
        throw new UsageError(`--mode needs one of ${MODES.join(', ')}, got ${String(v)}`);
      }
      mode = v as DemoMode;
    } else if (a === '--config') {
      const v = argv[++i];
      if (v === undefined || v === '') throw new UsageError('--config needs a file');
      config = path.resolve(v);
    } else if (a === '--metrics') {
      const v = argv[++i];
      if (v === undefined || v === '') throw new UsageError('--metrics needs HOST:PORT');
      metrics = v;
    } else throw new UsageError(`unknown argument ${String(a)}`);
  }
  return { durationS, config, mode, help, ...(metrics === undefined ? {} : { metrics }) };
}
