/**
 * The app inside each QEMU guest of the tier-3 run (bundled with esbuild by run-qemu-tests.ts,
 * together with `@sivshm/runtime`, whose `Node.open` the bundle entry passes in). It runs as an
 * unprivileged user, opens its node over the virtio-serial control port, and provides or
 * consumes VehicleSpeed from the services.yaml in the image. It reports on stdout (the guest's
 * console, i.e. the serial log the host reads as it grows) one `@@ app <json>` line per step.
 *
 *   guest.js provider|consumer|crashing-consumer|forged-receipt-consumer|no-receipt-consumer <services.yaml>
 *   guest.js iso-provider|iso-consumer <services.yaml>   (the isolation scenario, isolation-app.ts)
 */
import { constants, readFileSync, writeFileSync } from 'node:fs';
import { closeFd, mapFile, unmap } from '@sivshm/transport-ivshmem';
import { openFd } from '@sivshm/transport-ivshmem/testing';
import {
  BAR_SCAN_TRIGGER,
  MarkerPublisher,
  PLAIN_MARKER,
  offerMarkerChannels,
  runMarkerTraffic,
  type MarkerMode,
} from './guest-markers.js';
import { receiptSkippingConsumer, SKIPPER_ROLE } from './guest-receipt-skipper.js';
import { isolationConsumer, isolationProvider } from './isolation-app.js';
import { ISOLATION_ROLE } from './isolation-markers.js';

/** Events the provider publishes in one burst, numbered from 1. */
export const BURST = 300;
/** Method calls the consumer makes after the burst (round trips reported). */
const CALLS = 20;
/** Where hostd's launcher puts the grant key (root-only; the app must not read it). */
const FW_CFG_KEY = '/sys/firmware/qemu_fw_cfg/by_name/opt/sivshm/key/raw';
const PAGE = 4096;

/** The part of `@sivshm/runtime`'s Node this app uses. */
export interface GuestNode {
  readonly vmId: number;
  readonly doorbellsReceived: number;
  offer(
    name: string,
    o: { instance: number; methods: Record<string, (req: never) => unknown> },
  ): Promise<{
    readonly consumers: number;
    publisher<T>(event: string): { publish(m: T): boolean; readonly consumers: number };
  }>;
  consume(
    name: string,
    o: { instance: number; timeoutMs?: number; mode?: MarkerMode },
  ): Promise<{
    readonly status: string;
    readonly handshakeMs: number | undefined;
    readonly channelId: bigint | undefined;
    status$: { subscribe(f: (s: string) => void): { unsubscribe(): void } };
    event<T>(name: string): {
      subscribe(f: ((e: T) => void) | { next: (e: T) => void; error: (e: unknown) => void }): {
        unsubscribe(): void;
      };
    };
    call<Req extends object, Res>(name: string, req: Req, o?: { timeoutMs?: number }): Promise<Res>;
    close(): Promise<void>;
  }>;
  close(): Promise<void>;
}

/** `Node.open` as the bundle entry hands it in. */
export type OpenNode = (o: {
  config: string;
  vm: string;
  controlPort: string;
  notify: 'event';
}) => Promise<GuestNode>;

interface Speed {
  timestamp_ms: number;
  kph: number;
  odometer_m: unknown;
  gear: unknown;
}

const say = (o: object): void => {
  process.stdout.write(
    `@@ app ${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The event numbered `seq`: every field derives from it, so the consumer can check each. */
const sample = (seq: number): Speed => ({
  timestamp_ms: seq,
  kph: seq / 4,
  odometer_m: seq * 1000 + 7,
  gear: 4,
});

const intact = (e: Speed, seq: number): boolean =>
  e.timestamp_ms === seq &&
  e.kph === seq / 4 &&
  Number(String(e.odometer_m)) === seq * 1000 + 7 &&
  (e.gear === 4 || e.gear === 'GEAR_DRIVE');

/**
 * How every guest app attaches. The peer timeout is raised from its 1 s default because a TCG
 * guest on a loaded host is starved of its vCPU for seconds at a time: a channel's peer then
 * misses heartbeats without being gone, and the default ended a live channel as peer-gone in a
 * CI run at load ~20. A crashed app is still noticed, 10 s later.
 */
const GUEST_LINK = { controlPort: 'auto', notify: 'event', peerTimeoutMs: 10_000 } as const;

async function provider(open: OpenNode, config: string): Promise<void> {
  const t0 = performance.now();
  const node = await open({ config, vm: 'infotainment', ...GUEST_LINK });
  say({ step: 'open', vmId: node.vmId, ms: Math.round(performance.now() - t0) });
  let resets = 0;
  let burstStarted = false;
  // Set once the offer exists; the burst is only started by a call, i.e. after that.
  const speedEvents: { pub?: { publish(m: Speed): boolean } } = {};
  const plainMarker = new MarkerPublisher(PLAIN_MARKER.marker);
  const sendBurst = async (): Promise<void> => {
    let seq = 1;
    let full = 0;
    const end = Date.now() + 60_000;
    while (seq <= BURST && Date.now() < end) {
      if (speedEvents.pub?.publish(sample(seq)) === true) seq++;
      else {
        full++;
        await sleep(5); // ring full (or not set up yet): the consumer drains it meanwhile
      }
      if (seq % 25 === 0) await sleep(1); // let the consumer's calls through meanwhile
    }
    say({ step: 'published', count: seq - 1, ringFull: full });
  };
  const svc = await node.offer('VehicleSpeed', {
    instance: 1,
    methods: {
      reset: (req: { odometer_m?: unknown }) => {
        // the modes check's plain marker rides on this channel (guest-markers.ts)
        if (plainMarker.matches(req)) return plainMarker.onCall();
        resets++;
        // The consumer's first call says it is subscribed: only then is the burst sent.
        if (!burstStarted) {
          burstStarted = true;
          void sendBurst();
        }
        return { previous_odometer_m: Number(String(req.odometer_m ?? 0)) + resets };
      },
    },
  });
  speedEvents.pub = svc.publisher<Speed>('speed');
  plainMarker.pub = speedEvents.pub;
  await offerMarkerChannels(node);
  say({ step: 'offered' });
  // Stays up until its QEMU is killed; reports its doorbells now and then.
  for (let i = 0; i < 600; i++) {
    await sleep(1000);
    if (i % 5 === 4) say({ step: 'alive', doorbells: node.doorbellsReceived, resets });
  }
  await node.close();
}

/** This process's mappings of the device: [file offset, length] per /proc/self/maps line. */
function deviceMappings(): Array<{ offset: number; length: number }> {
  const out: Array<{ offset: number; length: number }> = [];
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    if (!line.includes('/dev/sivshm')) continue;
    const [range, , offset] = line.split(/\s+/);
    const [a, b] = (range ?? '').split('-').map((x) => parseInt(x, 16));
    out.push({ offset: parseInt(offset ?? '0', 16), length: (b ?? 0) - (a ?? 0) });
  }
  return out;
}

/** Tries to map `length` bytes at `offset` on a fresh, ungranted file: the errno name or 'mapped'. */
function tryMap(offset: number, length: number): string {
  const fd = openFd('/dev/sivshm', constants.O_RDWR);
  try {
    const m = mapFile(fd, offset, length, { writable: false });
    unmap(m.handle);
    return 'mapped';
  } catch (e) {
    return (e as { errnoName?: string }).errnoName ?? (e as Error).message;
  } finally {
    closeFd(fd);
  }
}

async function consumer(open: OpenNode, config: string): Promise<void> {
  const t0 = performance.now();
  const node = await open({ config, vm: 'cluster', ...GUEST_LINK });
  say({ step: 'open', vmId: node.vmId, ms: Math.round(performance.now() - t0) });
  const t1 = performance.now();
  const speed = await node.consume('VehicleSpeed', { instance: 1, timeoutMs: 60_000 });
  say({
    step: 'consumed',
    handshakeMs: speed.handshakeMs,
    findMs: Math.round(performance.now() - t1),
    channelId: speed.channelId,
    status: speed.status,
  });

  let received = 0;
  let firstBad: string | undefined;
  speed.event<Speed>('speed').subscribe({
    next: (e) => {
      received++;
      if (firstBad === undefined && !intact(e, received)) {
        firstBad = `event #${received}: ${JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`;
      }
    },
    // Reported, not thrown: an unhandled stream error would end the app before its next step.
    error: (e) => say({ step: 'event-stream-ended', message: (e as Error).message }),
  });
  const rtt: number[] = [];
  const call = async (i: number): Promise<void> => {
    const s = performance.now();
    const r = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
      'reset',
      { odometer_m: i * 10 },
      { timeoutMs: 10_000 },
    );
    rtt.push(performance.now() - s);
    if (Number(String(r.previous_odometer_m)) <= i * 10) throw new Error('wrong reply');
  };
  let callError: string | undefined;
  await call(0).catch((e: unknown) => (callError = (e as Error).message));
  const end = Date.now() + 90_000;
  while (received < BURST && Date.now() < end) await sleep(50);
  say({ step: 'events', received, expected: BURST, firstBad: firstBad ?? null });
  for (let i = 1; i <= CALLS && callError === undefined; i++) {
    await call(i).catch((e: unknown) => (callError = (e as Error).message));
  }
  const sorted = [...rtt].sort((a, b) => a - b);
  say({
    step: 'calls',
    ok: rtt.length,
    error: callError ?? null,
    p50Ms: sorted[Math.floor(sorted.length / 2)] ?? null,
    maxMs: sorted.at(-1) ?? null,
  });

  // What the kernel lets this process reach: its own mappings, and a fresh ungranted file.
  const maps = deviceMappings();
  const first = maps[0];
  let keyRead: string;
  try {
    readFileSync(FW_CFG_KEY);
    keyRead = 'read';
  } catch (e) {
    keyRead = (e as NodeJS.ErrnoException).code ?? 'error';
  }
  say({
    step: 'grant',
    uid: process.getuid?.(),
    maps,
    header: tryMap(0, PAGE),
    window: first === undefined ? 'no mapping' : tryMap(first.offset, PAGE),
    afterWindow: first === undefined ? 'no mapping' : tryMap(first.offset + first.length, PAGE),
    keyRead,
    doorbells: node.doorbellsReceived,
  });

  // One channel per mode carrying a known marker, while the host and root scan for it.
  await runMarkerTraffic(node, speed, say, () => writeFileSync(BAR_SCAN_TRIGGER, 'scan\n'));

  // Now the host kills the provider's QEMU: the channel must end with peer-gone.
  const gone = new Promise<number>((resolve) => {
    const s0 = performance.now();
    speed.status$.subscribe((s) => {
      if (s === 'peer-gone') resolve(Math.round(performance.now() - s0));
    });
  });
  say({ step: 'steady' });
  let giveUp: NodeJS.Timeout | undefined;
  const ms = await Promise.race([
    gone,
    new Promise<number>((resolve) => (giveUp = setTimeout(() => resolve(-1), 150_000))),
  ]);
  // the app must end once its node is closed (the guest powers off after it)
  clearTimeout(giveUp);
  say({ step: 'peer-gone', afterMs: ms, status: speed.status });
  await node.close();
  say({ step: 'closed' });
}

/**
 * The app crashing inside a running guest: it attaches and gets a channel, then dies by
 * SIGKILL (no close, no goodbye). QEMU's chardev socket to hostd stays connected; the next app
 * on the port must still get a clean start.
 */
async function crashingConsumer(open: OpenNode, config: string): Promise<void> {
  const node = await open({ config, vm: 'cluster', ...GUEST_LINK });
  const speed = await node.consume('VehicleSpeed', { instance: 1, timeoutMs: 60_000 });
  say({ step: 'crash-consumed', channelId: speed.channelId, status: speed.status });
  process.kill(process.pid, 'SIGKILL');
}

/** Runs the role named by `argv[0]` with the config at `argv[1]`; reports a failure as a step. */
export async function runGuestApp(open: OpenNode, argv: readonly string[]): Promise<void> {
  const [role, config] = argv;
  try {
    if (config === undefined) throw new Error('usage: guest.js provider|consumer <services.yaml>');
    if (role === 'provider') await provider(open, config);
    else if (role === 'consumer') await consumer(open, config);
    else if (role === 'crashing-consumer') await crashingConsumer(open, config);
    else if (role === ISOLATION_ROLE.provider)
      await isolationProvider(open, config, GUEST_LINK, say);
    else if (role === ISOLATION_ROLE.consumer)
      await isolationConsumer(open, config, GUEST_LINK, say);
    else if (role === SKIPPER_ROLE.forged || role === SKIPPER_ROLE.none) {
      const opened = (): ReturnType<OpenNode> => open({ config, vm: 'cluster', ...GUEST_LINK });
      await receiptSkippingConsumer(opened, role === SKIPPER_ROLE.forged ? 'forged' : 'none', say);
    } else throw new Error(`unknown role ${role}`);
  } catch (e) {
    say({ step: 'failed', message: (e as Error).message, stack: (e as Error).stack ?? '' });
    process.exitCode = 1;
  }
}
