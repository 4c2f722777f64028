/**
 * The guest apps of tier 3's isolation scenario (issue 18; the host side is
 * isolation-tier.ts). The provider guest offers VehicleSpeed (`isolation: device`: its channel
 * lives in an ivshmem device hostd hot-plugs into this pair only) and MediaControl
 * (`isolation: region`); the consumer guest consumes both. The device channel carries a marker
 * in its calls, replies and events while the guests' root loops scan every ivshmem BAR they
 * have; then the consumer closes it (hostd revokes it and unplugs the device from both guests)
 * while the region channel keeps going through every phase. Steps are `@@ app <json>` lines.
 */
import type { GuestNode, OpenNode } from './guest-app.js';
import { DeviceMapProbes, ivshmemFunctions, waitDeviceLeaves } from './device-map-probes.js';
import { MarkerPublisher } from './guest-markers.js';
import {
  DEVICE_FLOW_MS,
  DEVICE_MARKER,
  DEVICE_SERVICE,
  REGION_AFTER_MS,
  REGION_MARKER,
  REGION_SERVICE,
} from './isolation-markers.js';

type Say = (o: object) => void;
type Link = Omit<Parameters<OpenNode>[0], 'config' | 'vm'>;
type Consumed = Awaited<ReturnType<GuestNode['consume']>>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Bounds on the slow parts under TCG on a loaded host. */
const CONSUME_TIMEOUT_MS = 120_000;
const UNPLUG_SEEN_TIMEOUT_MS = 90_000;
const PROBE_TIMEOUT_MS = 20_000;
const REGION_PUBLISH_EVERY_MS = 200;
const REGION_CALL_EVERY_MS = 300;
const DEVICE_CALL_EVERY_MS = 250;

interface MediaState {
  playing: boolean;
  title: string;
  artist: string;
  position_ms: number;
}

/** The provider guest: offers both services; its probe shows its device mapping faults. */
export async function isolationProvider(
  open: OpenNode,
  config: string,
  link: Link,
  say: Say,
): Promise<void> {
  const probes = new DeviceMapProbes();
  probes.install();
  const node = await open({ config, vm: 'infotainment', ...link });
  say({ step: 'open', vmId: node.vmId });
  const marker = new MarkerPublisher(DEVICE_MARKER);
  const speed = await node.offer(DEVICE_SERVICE, {
    instance: 1,
    methods: {
      reset: (req: { odometer_m?: unknown }) =>
        marker.matches(req) ? marker.onCall() : { previous_odometer_m: 0 },
    },
  });
  marker.pub = speed.publisher('speed');
  let position = 0;
  const state = (): MediaState => ({
    playing: true,
    title: REGION_MARKER,
    artist: 'tier 3',
    position_ms: ++position,
  });
  const media = await node.offer(REGION_SERVICE, {
    instance: 1,
    methods: { control: () => ({ accepted: true, reason: '', state: state() }) },
  });
  const nowPlaying = media.publisher<MediaState>('nowPlaying');
  const publishing = setInterval(() => nowPlaying.publish(state()), REGION_PUBLISH_EVERY_MS);
  say({ step: 'offered' });
  const mapped = await probes.mapped(600_000);
  say({ step: 'device-mapped', functions: ivshmemFunctions(), probe: mapped });
  if (typeof mapped !== 'string') {
    const left = await waitDeviceLeaves(ivshmemFunctions().length, 600_000);
    say({ step: 'device-left-pci', left });
    say({ step: 'device-probe', ...probes.state() });
    // The region service is the consumer's until it closes its node; then the last act.
    for (const end = Date.now() + 600_000; media.consumers > 0 && Date.now() < end;)
      await sleep(250);
    touchLast(probes, say);
  }
  // Stays up (the region service with it) until the host ends the scenario.
  await sleep(600_000);
  clearInterval(publishing);
  await node.close();
}

type Phase = 'before' | 'device-traffic' | 'revoke' | 'after';

/** The region channel followed through every phase of the device channel's life. */
class RegionFollower {
  phase: Phase = 'before';
  readonly tally = new Map<Phase, { calls: number; events: number; errors: string[] }>();
  #running = true;
  readonly #loop: Promise<void>;

  constructor(readonly media: Consumed) {
    media.event<MediaState>('nowPlaying').subscribe({
      next: (e) => {
        if (e.title === REGION_MARKER) this.#of(this.phase).events++;
      },
      error: (e) => this.#of(this.phase).errors.push(`events: ${(e as Error).message}`),
    });
    this.#loop = this.#calls();
  }

  #of(p: Phase): { calls: number; events: number; errors: string[] } {
    let t = this.tally.get(p);
    if (t === undefined) this.tally.set(p, (t = { calls: 0, events: 0, errors: [] }));
    return t;
  }

  async #calls(): Promise<void> {
    for (let i = 0; this.#running; i++) {
      const phase = this.phase;
      try {
        const r = await this.media.call<
          { command: number; volume: number },
          { accepted?: boolean; state?: { title?: string } }
        >('control', { command: 1, volume: i % 100 }, { timeoutMs: 10_000 });
        if (r.accepted !== true || r.state?.title !== REGION_MARKER) throw new Error('wrong reply');
        this.#of(phase).calls++;
      } catch (e) {
        this.#of(phase).errors.push((e as Error).message);
      }
      await sleep(REGION_CALL_EVERY_MS);
    }
  }

  async stop(): Promise<Record<string, unknown>> {
    this.#running = false;
    await this.#loop;
    return Object.fromEntries(this.tally);
  }
}

/** Marker traffic on the device channel until it flows, then for DEVICE_FLOW_MS. */
async function deviceTraffic(speed: Consumed, say: Say): Promise<void> {
  const t = {
    events: 0,
    otherEvents: 0,
    calls: 0,
    error: null as string | null,
    // the service's status changes: a channel lost and made again would show here
    statuses: [] as string[],
    channelId: '',
  };
  const t0 = performance.now();
  const watch = speed.status$.subscribe((st) =>
    t.statuses.push(`${st}@${Math.round(performance.now() - t0)}ms`),
  );
  speed.event<{ odometer_m: unknown }>('speed').subscribe({
    next: (e) => {
      if (Number(String(e.odometer_m)) === DEVICE_MARKER) t.events++;
      else t.otherEvents++;
    },
    error: (e) => (t.error ??= `event stream: ${(e as Error).message}`),
  });
  const call = async (): Promise<void> => {
    try {
      const r = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
        'reset',
        { odometer_m: DEVICE_MARKER },
        { timeoutMs: 10_000 },
      );
      if (Number(String(r.previous_odometer_m)) !== DEVICE_MARKER) throw new Error('wrong echo');
      t.calls++;
    } catch (e) {
      t.error ??= (e as Error).message;
    }
  };
  const settle = Date.now() + 60_000;
  while (t.events < 3 && t.error === null && Date.now() < settle) {
    await call();
    await sleep(DEVICE_CALL_EVERY_MS);
  }
  say({ step: 'markers-flowing', tally: t });
  for (const end = Date.now() + DEVICE_FLOW_MS; Date.now() < end && t.error === null;) {
    await call();
    await sleep(DEVICE_CALL_EVERY_MS);
  }
  watch.unsubscribe();
  t.channelId = String(speed.channelId);
  say({ step: 'markers-done', tally: t });
}

/** The consumer guest: both services, marker traffic, the revoke, the region throughout. */
export async function isolationConsumer(
  open: OpenNode,
  config: string,
  link: Link,
  say: Say,
): Promise<void> {
  const probes = new DeviceMapProbes();
  probes.install();
  const node = await open({ config, vm: 'cluster', ...link });
  say({ step: 'open', vmId: node.vmId });
  const consumed = async (name: string): Promise<Consumed> => {
    const t0 = performance.now();
    const svc = await node.consume(name, { instance: 1, timeoutMs: CONSUME_TIMEOUT_MS });
    say({
      step: `consumed-${name}`,
      handshakeMs: svc.handshakeMs,
      findMs: Math.round(performance.now() - t0),
      channelId: svc.channelId,
      status: svc.status,
      functions: ivshmemFunctions(),
    });
    return svc;
  };
  const speed = await consumed(DEVICE_SERVICE);
  const region = new RegionFollower(await consumed(REGION_SERVICE));
  await sleep(2000); // some region traffic before the device channel's
  region.phase = 'device-traffic';
  const before = ivshmemFunctions().length;
  const mapped = await probes.mapped(PROBE_TIMEOUT_MS);
  say({ step: 'device-mapped', functions: ivshmemFunctions(), probe: mapped });
  await deviceTraffic(speed, say);
  const live = String(speed.channelId);
  say({ step: 'window-read-before-revoke', value: probes.touch(live), live, ...probes.state() });
  region.phase = 'revoke';
  const t0 = performance.now();
  await speed.close();
  say({ step: 'device-closed', ms: Math.round(performance.now() - t0) });
  const left = await waitDeviceLeaves(before, UNPLUG_SEEN_TIMEOUT_MS);
  say({ step: 'device-left-pci', left, msAfterClose: Math.round(performance.now() - t0) });
  say({ step: 'device-probe', ...probes.state() });
  region.phase = 'after';
  await sleep(REGION_AFTER_MS);
  say({ step: 'region-done', phases: await region.stop() });
  await node.close();
  say({ step: 'closed' });
  touchLast(probes, say);
}

/**
 * The app's last act: reads its probe page of the revoked, unplugged device window. sivshm.ko
 * zapped it, so the read faults and SIGBUS ends the app (its init prints the exit status);
 * the step after it is only reached when the mapping survived.
 */
function touchLast(probes: DeviceMapProbes, say: Say): void {
  say({ step: 'touching-revoked-window' });
  const value = probes.touch();
  say({ step: 'revoked-window-read', value });
}
