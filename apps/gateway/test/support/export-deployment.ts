// What the export scenarios share: one deployment with the providing VM 'infotainment' and the
// gateway as VM 'gateway', a live capture started before anything talks, hostd, the provider VM
// as its own process, and the gateway on the scenario's `gateway:` section. Also the scenario
// processes' common ending: a watchdog, exit 0 on success, the log on failure.
import { appendFileSync } from 'node:fs';
import type { ServiceChoice } from '@sivshm/testing';
import {
  forkChild,
  makeDeployment,
  siblingEntry,
  startHostd,
  startLiveCapture,
  type ForkedChild,
  type LiveCapture,
  type LiveCaptureOptions,
} from '@sivshm/testing';
import { Gateway } from '../../src/gateway.js';
import { TEST_SD_TIMING } from './test-sd-timing.js';

/** What an export scenario sets up. */
export interface ExportDeploymentOptions {
  /** Names the temp dir and the region file. */
  readonly label: string;
  /** The exported services (consumed by the gateway VM). */
  readonly services: readonly (string | ServiceChoice)[];
  /** The `gateway:` section appended to the config. */
  readonly gatewaySection: string;
  /** The provider VM's entry beside this file. */
  readonly providerEntry: 'provider-vm' | 'media-provider-vm';
  readonly capture: LiveCaptureOptions;
  /** Loopback addresses in the config (default true; an IPv6 scenario uses a veth). */
  readonly allowLoopbackEndpoints?: boolean;
  /** Each line of the gateway's log (default: kept in `gatewayLog`). */
  readonly log?: (line: string) => void;
}

/** The running deployment; `close()` stops the gateway, the provider and hostd. */
export interface ExportDeployment {
  readonly configPath: string;
  readonly capture: LiveCapture;
  readonly provider: ForkedChild<{ event: string; message?: string }>;
  readonly gateway: Gateway;
  /** The gateway's log lines (unless `log` was given). */
  readonly gatewayLog: string[];
  close(): Promise<void>;
}

export async function startExportDeployment(o: ExportDeploymentOptions): Promise<ExportDeployment> {
  const d = makeDeployment({
    label: o.label,
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'gateway' },
    ],
    services: o.services,
  });
  appendFileSync(d.configPath, o.gatewaySection);
  const capture = await startLiveCapture(o.capture);
  const hostd = await startHostd(d);
  const provider = await forkChild<{ event: string; message?: string }>({
    entry: siblingEntry(import.meta.url, o.providerEntry),
    args: [d.configPath, d.runDir],
    what: `the provider VM (${o.providerEntry})`,
    ready: (r) => r.some((m) => m.event === 'ready'),
    failed: (r) => r.some((m) => m.event === 'error'),
    pipeStderr: true,
  });
  const gatewayLog: string[] = [];
  const gateway = await Gateway.start({
    config: d.configPath,
    vm: 'gateway',
    runDir: d.runDir,
    ...(o.allowLoopbackEndpoints === false ? {} : { allowLoopbackEndpoints: true }),
    sdTiming: TEST_SD_TIMING,
    log: o.log ?? ((l) => gatewayLog.push(l)),
  });
  return {
    configPath: d.configPath,
    capture,
    provider,
    gateway,
    gatewayLog,
    close: async () => {
      await gateway.close();
      await provider.stop();
      await hostd.stop();
      d.cleanup();
    },
  };
}

/**
 * Runs a scenario's `main` as the process's work: exit 0 when it resolves, 1 with the reason and
 * `log` when it fails, 3 when it is not done in 90 s (every wait inside has a bound of its own).
 */
export function runScenario(what: string, main: () => Promise<void>, log: string[] = []): void {
  const watchdog = setTimeout(() => {
    process.stderr.write(`${what}: watchdog expired\n${log.join('\n')}\n`);
    process.exit(3);
  }, 90_000);
  watchdog.unref();
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${what} failed: ${String(e)}\n${log.join('\n')}\n`);
      process.exit(1);
    },
  );
}
