/**
 * The modes part of the tier-3 guest apps: the main scenario's plain channel (VehicleSpeed
 * instance 1) and an aead channel (instance 2) each carry a known plaintext marker in their
 * requests, replies and events while the host scans the region file and the consumer guest's
 * root scans the BAR. The marker must show in plain (so the scans are known to work) and never
 * in aead.
 *
 * One new handshake only, on purpose: a handshake keeps a TCG guest's CPU busy, and on a loaded
 * machine a guest busy for more than a second misses the peer timeout of its other channels
 * and hostd's deadline for a pending handshake. `mac` is left to the emulated-mode test
 * (runtime's modes.int.spec.ts) for that reason.
 *
 * Bundled into the guest app (guest-app.ts) and imported by the host (run-qemu-tests.ts) for
 * the markers and the step names.
 */

export type MarkerMode = 'plain' | 'aead';

/** The marker channels: their mode, instance and the odometer value their traffic carries. */
export const MARKER_CHANNELS: ReadonlyArray<{
  readonly mode: MarkerMode;
  readonly instance: number;
  readonly marker: number;
}> = [
  { mode: 'plain', instance: 1, marker: 987_654_301 },
  { mode: 'aead', instance: 2, marker: 987_654_303 },
];

/** The main scenario's channel (instance 1), which carries the plain marker too. */
export const PLAIN_MARKER = MARKER_CHANNELS[0]!;

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
/**
 * Before the aead handshake: the host reads hostd's status after the consumer's `grant` step,
 * while the main channel is still the only one (run-qemu-tests.ts, grantEnforced).
 */
const QUIET_BEFORE_HANDSHAKE_MS = 3000;
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

/** The parts of a consumed service (`@sivshm/runtime`) the marker channels use. */
export interface MarkerService {
  readonly channelId: bigint | undefined;
  event<T>(name: string): {
    subscribe(o: { next: (e: T) => void; error: (e: unknown) => void }): {
      unsubscribe(): void;
    };
  };
  call<Req extends object, Res>(name: string, req: Req, o?: { timeoutMs?: number }): Promise<Res>;
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
  ): Promise<MarkerService>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Provider side of one marker channel: a `reset` call with the marker is echoed (the reply
 * carries it) and keeps marker events going for a while; they stop when calls stop.
 */
export class MarkerPublisher {
  /** Set once the offer exists; publishing only starts with a call, i.e. after that. */
  pub: { publish(m: Speed): boolean } | undefined;
  #until = 0;

  constructor(readonly marker: number) {}

  /** Whether `req` is a marker call of this channel. */
  matches(req: { odometer_m?: unknown }): boolean {
    return Number(String(req.odometer_m ?? 0)) === this.marker;
  }

  onCall(): { previous_odometer_m: number } {
    const idle = Date.now() >= this.#until;
    this.#until = Date.now() + PUBLISH_AFTER_CALL_MS;
    if (idle) void this.#publish();
    return { previous_odometer_m: this.marker };
  }

  async #publish(): Promise<void> {
    for (let seq = 1; Date.now() < this.#until; seq++) {
      this.pub?.publish({ timestamp_ms: seq, kph: 1, odometer_m: this.marker, gear: 4 });
      await sleep(PUBLISH_EVERY_MS);
    }
  }
}

/** Provider: offers the marker instances other than the main one (instance 1). */
export async function offerMarkerChannels(node: MarkerNode): Promise<void> {
  for (const c of MARKER_CHANNELS) {
    if (c.instance === PLAIN_MARKER.instance) continue;
    const m = new MarkerPublisher(c.marker);
    const svc = await node.offer('VehicleSpeed', {
      instance: c.instance,
      methods: { reset: () => m.onCall() },
    });
    m.pub = svc.publisher<Speed>('speed');
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

/** Consumer: follows marker channel `c` on `svc`; returns its tally and one echoed call on it. */
function followMarkerChannel(
  svc: MarkerService,
  c: (typeof MARKER_CHANNELS)[number],
): { t: MarkerTally; call: () => Promise<void> } {
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
 * Consumer: follows the plain marker on the main channel `main`, opens the aead channel, calls
 * and receives on both at once, says `markers-flowing` (and asks for the BAR scan) once each
 * delivered marker events, keeps the traffic going for MARKER_FLOW_MS, then says
 * `markers-done` with what each carried.
 */
export async function runMarkerTraffic(
  node: MarkerNode,
  main: MarkerService,
  say: (o: object) => void,
  trigger: () => void,
): Promise<void> {
  await sleep(QUIET_BEFORE_HANDSHAKE_MS);
  const channels: Array<{ t: MarkerTally; call: () => Promise<void> }> = [];
  for (const c of MARKER_CHANNELS) {
    const svc =
      c.instance === PLAIN_MARKER.instance
        ? main
        : await node.consume('VehicleSpeed', {
            instance: c.instance,
            mode: c.mode,
            timeoutMs: 60_000,
          });
    channels.push(followMarkerChannel(svc, c));
  }
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
