/**
 * The modes part of the tier-3 guest apps: one channel of VehicleSpeed per mode (plain, mac,
 * aead; instances 2–4, beside the plain instance 1 of the main scenario), each carrying a known
 * plaintext marker in its requests, replies and events while the host scans the region file
 * and the consumer guest's root scans the BAR. The marker must show in plain (so the scans are
 * known to work) and in mac (tagged, not hidden), and never in aead.
 *
 * Bundled into the guest app (guest-app.ts) and imported by the host (run-qemu-tests.ts) for
 * the markers and the step names.
 */

export type MarkerMode = 'plain' | 'mac' | 'aead';

/** The marker channels: their mode, instance and the odometer value their traffic carries. */
export const MARKER_CHANNELS: ReadonlyArray<{
  readonly mode: MarkerMode;
  readonly instance: number;
  readonly marker: number;
}> = [
  { mode: 'plain', instance: 2, marker: 987_654_301 },
  { mode: 'mac', instance: 3, marker: 987_654_302 },
  { mode: 'aead', instance: 4, marker: 987_654_303 },
];

/** How long the consumer keeps marker traffic flowing after it says it flows. */
export const MARKER_FLOW_MS = 8000;
/** The provider publishes marker events this long after the last call (then stops). */
const PUBLISH_AFTER_CALL_MS = 2000;
/**
 * Slow on purpose: the bytes stay in the ring until overwritten, so a few records a second
 * are enough for the scans, and TCG guests must keep their heartbeats within the peer timeout.
 */
const PUBLISH_EVERY_MS = 100;
/** Between two rounds of calls (one on each marker channel). */
const CALL_EVERY_MS = 250;
/** Where the consumer app asks the guest's root to scan the BAR (see app-image.ts). */
export const BAR_SCAN_TRIGGER = '/tmp/sivshm-bar-scan';

/** A marker's bytes as they sit in a protobuf record: the value's varint (5 bytes here). */
export function markerBytes(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

interface Speed {
  timestamp_ms: number;
  kph: number;
  odometer_m: unknown;
  gear: unknown;
}

/** The parts of `@sivshm/runtime`'s Node the marker channels use. */
export interface MarkerNode {
  offer(
    name: string,
    o: { instance: number; methods: Record<string, (req: never) => unknown> },
  ): Promise<{ publisher<T>(event: string): { publish(m: T): boolean } }>;
  consume(
    name: string,
    o: { instance: number; timeoutMs?: number; mode?: MarkerMode },
  ): Promise<{
    readonly channelId: bigint | undefined;
    event<T>(name: string): {
      subscribe(o: { next: (e: T) => void; error: (e: unknown) => void }): {
        unsubscribe(): void;
      };
    };
    call<Req extends object, Res>(name: string, req: Req, o?: { timeoutMs?: number }): Promise<Res>;
  }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Provider: offers the marker instances. A `reset` call is echoed (the reply carries the
 * request's marker) and keeps marker events going for a while; they stop when calls stop.
 */
export async function offerMarkerChannels(node: MarkerNode): Promise<void> {
  for (const c of MARKER_CHANNELS) {
    let publishUntil = 0;
    // set once the offer exists; publishing only starts with a call, i.e. after that
    const events: { pub?: { publish(m: Speed): boolean } } = {};
    const publishing = async (): Promise<void> => {
      for (let seq = 1; Date.now() < publishUntil; seq++) {
        events.pub?.publish({ timestamp_ms: seq, kph: 1, odometer_m: c.marker, gear: 4 });
        await sleep(PUBLISH_EVERY_MS);
      }
    };
    const svc = await node.offer('VehicleSpeed', {
      instance: c.instance,
      methods: {
        reset: (req: { odometer_m?: unknown }) => {
          const idle = Date.now() >= publishUntil;
          publishUntil = Date.now() + PUBLISH_AFTER_CALL_MS;
          if (idle) void publishing();
          return { previous_odometer_m: Number(String(req.odometer_m ?? 0)) };
        },
      },
    });
    events.pub = svc.publisher<Speed>('speed');
  }
}

/** One marker channel as the consumer saw it. */
interface MarkerTally {
  mode: MarkerMode;
  channelId: string;
  events: number;
  otherEvents: number;
  calls: number;
  error: string | null;
}

/** Consumer: opens marker channel `c`; returns its tally and one echoed call on it. */
async function openMarkerChannel(
  node: MarkerNode,
  c: (typeof MARKER_CHANNELS)[number],
): Promise<{ t: MarkerTally; call: () => Promise<void> }> {
  const svc = await node.consume('VehicleSpeed', {
    instance: c.instance,
    mode: c.mode,
    timeoutMs: 60_000,
  });
  const t: MarkerTally = {
    mode: c.mode,
    channelId: String(svc.channelId),
    events: 0,
    otherEvents: 0,
    calls: 0,
    error: null,
  };
  svc.event<Speed>('speed').subscribe({
    next: (e) => {
      if (Number(String(e.odometer_m)) === c.marker) t.events++;
      else t.otherEvents++;
    },
    // the channel ended under the traffic: reported, and the app goes on to its next step
    error: (e) => (t.error ??= `event stream: ${(e as Error).message}`),
  });
  const call = async (): Promise<void> => {
    if (t.error !== null) return;
    try {
      const r = await svc.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
        'reset',
        { odometer_m: c.marker },
        { timeoutMs: 10_000 },
      );
      if (Number(String(r.previous_odometer_m)) !== c.marker) throw new Error('wrong echo');
      t.calls++;
    } catch (e) {
      t.error = (e as Error).message;
    }
  };
  return { t, call };
}

/**
 * Consumer: opens the marker channels, calls and receives on all three at once, says
 * `markers-flowing` (and asks for the BAR scan) once every channel delivered marker events,
 * keeps the traffic going for MARKER_FLOW_MS, then says `markers-done` with what each carried.
 */
export async function runMarkerTraffic(
  node: MarkerNode,
  say: (o: object) => void,
  trigger: () => void,
): Promise<void> {
  // One handshake at a time: hostd gives a pending handshake 1 s, and three at once in a TCG
  // guest on a loaded machine can take longer than that.
  const channels: Array<{ t: MarkerTally; call: () => Promise<void> }> = [];
  for (const c of MARKER_CHANNELS) channels.push(await openMarkerChannel(node, c));
  const tallies = channels.map((ch) => ch.t);
  const callAll = (): Promise<unknown> => Promise.all(channels.map((ch) => ch.call()));
  const settle = Date.now() + 30_000;
  do await callAll().then(() => sleep(CALL_EVERY_MS));
  while (tallies.some((t) => t.events < 3 && t.error === null) && Date.now() < settle);
  say({ step: 'markers-flowing', channels: tallies });
  trigger();
  for (const end = Date.now() + MARKER_FLOW_MS; Date.now() < end;) {
    await callAll();
    await sleep(CALL_EVERY_MS);
  }
  say({ step: 'markers-done', channels: tallies });
}
