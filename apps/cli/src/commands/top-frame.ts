// One frame of `sivshm top`: two status documents of hostd, some time apart, turned into rates
// (counter deltas over the time between them) and a text table. No terminal code here.

/** The parts of hostd's status document (schema version 1) `top` reads. */
export interface TopStatus {
  pid: number;
  epoch: string;
  uptimeMs: number;
  vms: {
    id: number;
    name: string;
    connected: boolean;
    enrolled: boolean;
    refusals: number;
    sdDropped?: number;
    integrityFailures?: number;
  }[];
  services: { service: number; instance: number; providerVm: number; ttl: number }[];
  channels: {
    channelId: string;
    state: string;
    mode: string;
    consumerVm: number;
    providerVm: number;
    service: number;
    instance: number;
    /** When the channel entered its state (ISO 8601); hostds before it only sent `sinceMs`. */
    stateChangedAt?: string;
    sinceMs: number;
    rings?: Record<
      Direction,
      {
        producedBytes: number;
        queuedBytes: number;
        records?: number;
        drops?: number;
        refused?: number;
        consumerNotify?: string;
        closed?: boolean;
      }
    >;
  }[];
  handshakes: {
    established: number;
    rejected: number;
    aborted: number;
    timingMs: { count: number; p50?: number; p99?: number; last?: number };
  };
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
  refusalsByReason?: Record<string, number>;
  serviceNames?: Record<string, string>;
}

type Direction = 'c2p' | 'p2c';

/** One direction of a channel in a frame. */
export interface TopDirection {
  /**
   * Records (SOME/IP messages) published per second between the two polls, from the records
   * counter the producing VM's transport keeps in the ring's producer page (0 from a hostd or
   * peer too old to report it).
   */
  readonly recordsPerSecond: number;
  /** Record bytes published per second between the two polls. */
  readonly bytesPerSecond: number;
  /** Bytes published and not yet consumed at the second poll (ring fill). */
  readonly queuedBytes: number;
  /**
   * Events the producer's publisher gave up on since the channel opened because this ring was
   * full (the producer page's drops word; 0 from a hostd or peer too old to report it).
   */
  readonly drops: number;
  /**
   * Requests this ring's consumer (c2p: the provider) refused unrun since the channel opened,
   * past its `maxCallsInFlight` (the consumer page's refused word; 0 from a hostd or peer too
   * old to report it). One-way requests refused show only here.
   */
  readonly refused: number;
}

/** How a channel end waits for records; what top shows for anything else. */
const NOTIFY_MODES = new Set(['spin', 'event', 'adaptive']);
const notifyName = (mode: unknown): string =>
  typeof mode === 'string' && NOTIFY_MODES.has(mode) ? mode : 'unknown';

/** What `top --json` prints: one object per frame. */
export interface TopFrame {
  readonly at: string;
  /** Time between the two status polls the rates come from, ms. */
  readonly intervalMs: number;
  readonly hostd: {
    readonly pid: number;
    readonly epoch: string;
    readonly uptimeMs: number;
    readonly eventLoopDelayMs?: { p50: number; p99: number; max: number };
    readonly refusalsByReason: Record<string, number>;
    readonly handshakes: { established: number; rejected: number; aborted: number };
    readonly lastHandshakeMs?: number;
  };
  readonly vms: readonly {
    id: number;
    name: string;
    connected: boolean;
    enrolled: boolean;
    refusals: number;
    sdDropped: number;
    integrityFailures: number;
  }[];
  readonly services: readonly {
    name: string;
    service: number;
    instance: number;
    provider: string;
    consumers: string[];
  }[];
  readonly channels: readonly {
    channelId: string;
    service: string;
    instance: number;
    state: string;
    mode: string;
    consumer: string;
    provider: string;
    /** When the channel last changed state (its handshake, for an ACTIVE one). */
    since: string;
    /**
     * How each end waits for records, `provider/consumer` (each `spin`, `event`, `adaptive` or
     * `unknown`), from the word each end wrote in its own consumer page at attach.
     */
    notify?: string;
    c2p?: TopDirection;
    p2c?: TopDirection;
  }[];
}

/** Builds a frame from two polls `intervalMs` apart (`before` may lack a channel: rate 0). */
export function topFrame(before: TopStatus, after: TopStatus, intervalMs: number): TopFrame {
  const vmName = (id: number): string => after.vms.find((v) => v.id === id)?.name ?? `vm${id}`;
  const serviceName = (id: number): string =>
    after.serviceNames?.[`0x${id.toString(16)}`] ?? `0x${id.toString(16).padStart(4, '0')}`;
  const seconds = Math.max(intervalMs, 1) / 1000;
  const direction = (c: TopStatus['channels'][number], d: Direction): TopDirection | undefined => {
    const now = c.rings?.[d];
    if (now === undefined) return undefined;
    const then = before.channels.find((b) => b.channelId === c.channelId)?.rings?.[d];
    // Free-running u32 counters: the wrapped difference still counts forward.
    const moved = then === undefined ? 0 : (now.producedBytes - then.producedBytes) >>> 0;
    const records = then === undefined ? 0 : ((now.records ?? 0) - (then.records ?? 0)) >>> 0;
    return {
      recordsPerSecond: Math.round(records / seconds),
      bytesPerSecond: Math.round(moved / seconds),
      queuedBytes: now.queuedBytes,
      // A peer's word, passed on by hostd as read: a u32 at most, never a figure top computes with.
      drops: (now.drops ?? 0) >>> 0,
      refused: (now.refused ?? 0) >>> 0,
    };
  };
  return {
    at: new Date().toISOString(),
    intervalMs,
    hostd: {
      pid: after.pid,
      epoch: after.epoch,
      uptimeMs: after.uptimeMs,
      ...(after.eventLoopDelayMs === undefined ? {} : { eventLoopDelayMs: after.eventLoopDelayMs }),
      refusalsByReason: after.refusalsByReason ?? {},
      handshakes: {
        established: after.handshakes.established,
        rejected: after.handshakes.rejected,
        aborted: after.handshakes.aborted,
      },
      ...(after.handshakes.timingMs.last === undefined
        ? {}
        : { lastHandshakeMs: after.handshakes.timingMs.last }),
    },
    vms: after.vms.map((v) => ({
      id: v.id,
      name: v.name,
      connected: v.connected,
      enrolled: v.enrolled,
      refusals: v.refusals,
      sdDropped: v.sdDropped ?? 0,
      integrityFailures: v.integrityFailures ?? 0,
    })),
    services: after.services.map((s) => ({
      name: serviceName(s.service),
      service: s.service,
      instance: s.instance,
      provider: vmName(s.providerVm),
      consumers: after.channels
        .filter((c) => c.service === s.service && c.instance === s.instance)
        .map((c) => vmName(c.consumerVm)),
    })),
    channels: after.channels.map((c) => {
      const c2p = direction(c, 'c2p');
      const p2c = direction(c, 'p2c');
      return {
        channelId: c.channelId,
        service: serviceName(c.service),
        instance: c.instance,
        state: c.state,
        mode: c.mode,
        consumer: vmName(c.consumerVm),
        provider: vmName(c.providerVm),
        since: c.stateChangedAt ?? new Date(c.sinceMs).toISOString(),
        ...(c.rings === undefined
          ? {}
          : {
              notify: `${notifyName(c.rings.c2p.consumerNotify)}/${notifyName(c.rings.p2c.consumerNotify)}`,
            }),
        ...(c2p === undefined ? {} : { c2p }),
        ...(p2c === undefined ? {} : { p2c }),
      };
    }),
  };
}
