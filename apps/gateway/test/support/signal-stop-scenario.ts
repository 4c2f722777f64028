// Child process of signal-stop.int.spec.ts, run inside a private network namespace with
// 10.66.0.1 and 10.66.0.2 on one end of a veth pair (the shipped binary offers no loopback
// endpoints, SD-1233, so the test's loopback set-up does not serve here). Starts hostd and the provider VM (emulated mode), then the
// real `sivshm-gateway` binary twice — stopped once by SIGTERM and once by SIGINT — while an
// external SOME/IP-SD listener on 127.0.0.2 records what the gateway sends. Captures the SD
// traffic on lo with tshark and prints a JSON report.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  forkChild,
  makeDeployment,
  siblingEntry,
  startHostd,
  startLiveCapture,
  waitFor,
} from '@sivshm/testing';
import { SD_GROUP, SD_PORT, openSocket, parseSd, type RawSdEntry } from './raw-someip-peer.js';

const outDir = process.argv[2] ?? '/tmp';
const rawPcap = join(outDir, 'raw.pcap');
const pcap = join(outDir, 'signal-stop.pcap');
const GATEWAY = '10.66.0.1';
const PEER = '10.66.0.2';
/** The shipped binary (apps/gateway/bin), which runs the compiled dist/src/bin.js. */
const GATEWAY_BIN = join(dirname(fileURLToPath(import.meta.url)), '../../../bin/sivshm-gateway.js');
const gatewaySection = (): string => `
gateway:
  unicast: ${GATEWAY}
  export:
    - { service: VehicleSpeed, instance: 1, udp: 30501 }
    - { service: VehicleSpeed, instance: 2, udp: 30503 }
`;

/** What the listener saw of one gateway run, stopped by `signal`. */
interface SignalRun {
  readonly signal: string;
  readonly exitCode: number | null;
  readonly exitSignal: string | null;
  /** Instances offered (TTL > 0) before the signal. */
  readonly offeredBefore: number[];
  /** Instances withdrawn (Offer entry with TTL 0) after the signal, in arrival order. */
  readonly stopOffers: number[];
  /** Where the StopOffers came from (address:port). */
  readonly stopOfferSources: string[];
  /** Milliseconds from the signal to the exit. */
  readonly exitMs: number;
  readonly stderr: string;
}

async function main(): Promise<void> {
  const d = makeDeployment({
    label: 'gateway-signal',
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'gateway' },
    ],
    services: [{ name: 'VehicleSpeed', consumers: ['gateway'], instances: [1, 2] }],
  });
  appendFileSync(d.configPath, gatewaySection());
  // 'any': unicast between the two addresses crosses lo, multicast leaves by v0 and loops back.
  const capture = await startLiveCapture({
    filter: `udp port ${SD_PORT}`,
    rawPcap,
    interface: 'any',
  });
  const hostd = await startHostd(d);
  const provider = await forkChild<{ event: string; message?: string }>({
    entry: siblingEntry(import.meta.url, 'provider-vm'),
    args: [d.configPath, d.runDir],
    what: 'the provider VM',
    ready: (r) => r.some((m) => m.event === 'ready'),
    failed: (r) => r.some((m) => m.event === 'error'),
    pipeStderr: true,
  });
  const sd = await openSocket(PEER, SD_PORT);
  const sdGroup = await openSocket(PEER, SD_PORT, SD_GROUP);
  try {
    const runs: SignalRun[] = [];
    for (const signal of ['SIGTERM', 'SIGINT'] as const)
      runs.push(await runUntilSignal(signal, d.configPath, d.runDir, [sd, sdGroup]));
    await capture.finish(`udp.port == ${SD_PORT}`, pcap);
    process.stdout.write(JSON.stringify({ pcap, runs }));
  } finally {
    for (const s of [sd, sdGroup]) s.socket.close();
    await provider.stop();
    await hostd.stop();
    d.cleanup();
  }
}

type Listener = { received: Array<{ bytes: Buffer; from: string }> };

/** SD entries of what `listeners` received from index `from` on, with their source. */
function entriesSince(
  listeners: readonly Listener[],
  from: readonly number[],
): Array<RawSdEntry & { source: string }> {
  return listeners.flatMap((l, i) =>
    l.received
      .slice(from[i])
      .flatMap((m) => parseSd(m.bytes).map((e) => ({ ...e, source: m.from }))),
  );
}

/** Starts the gateway binary, waits until it offers both instances, signals it, waits for its exit. */
async function runUntilSignal(
  signal: 'SIGTERM' | 'SIGINT',
  configPath: string,
  runDir: string,
  listeners: readonly Listener[],
): Promise<SignalRun> {
  const started = listeners.map((l) => l.received.length);
  const child = spawn(
    process.execPath,
    [GATEWAY_BIN, '--config', configPath, '--vm', 'gateway', '--run-dir', runDir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, sig) => resolve({ code, signal: sig })),
  );
  const offered = (): number[] => [
    ...new Set(
      entriesSince(listeners, started)
        .filter((e) => e.type === 0x01 && e.serviceId === 0x1234 && e.ttl > 0)
        .map((e) => e.instanceId),
    ),
  ];
  await waitFor(() => offered().length === 2, 'Offers of both instances', 20_000, 10).catch(
    (e: unknown) => {
      child.kill('SIGKILL');
      throw new Error(`${String(e)}; the gateway's stderr: ${stderr}`);
    },
  );
  const offeredBefore = offered().sort();
  const signalled = listeners.map((l) => l.received.length);
  const t0 = performance.now();
  child.kill(signal);
  const exit = await Promise.race([
    exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`the gateway did not exit on ${signal}`)), 10_000),
    ),
  ]);
  const exitMs = Math.round(performance.now() - t0);
  // The StopOffers were sent before the exit; give the listener's loop a moment to read them.
  const stops = (): Array<RawSdEntry & { source: string }> =>
    entriesSince(listeners, signalled).filter(
      (e) => e.type === 0x01 && e.serviceId === 0x1234 && e.ttl === 0,
    );
  await waitFor(() => stops().length >= 2, `StopOffers after ${signal}`, 2_000, 10).catch(
    () => undefined,
  );
  return {
    signal,
    exitCode: exit.code,
    exitSignal: exit.signal,
    offeredBefore,
    stopOffers: stops().map((e) => e.instanceId),
    stopOfferSources: [...new Set(stops().map((e) => e.source))],
    exitMs,
    stderr,
  };
}

const watchdog = setTimeout(() => {
  process.stderr.write('signal-stop scenario: watchdog expired\n');
  process.exit(3);
}, 90_000);
watchdog.unref();
main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`signal-stop scenario failed: ${String(e)}\n`);
    process.exit(1);
  },
);
