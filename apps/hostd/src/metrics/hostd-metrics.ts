import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { serviceNameOf, type StatusDocument } from '../status/status-server.js';

/** Buckets of the handshake histogram, seconds: a local handshake is ms, a loaded one 100s of ms. */
const HANDSHAKE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type Direction = 'c2p' | 'p2c';
/** Free-running counters of one channel direction, as last read (or their totals). */
interface ChannelCounts {
  bytes: number;
  records: number;
  drops: number;
  /** Requests the direction's consumer refused unrun (its consumer page's refused word). */
  refused: number;
}
const DIRECTIONS: readonly Direction[] = ['c2p', 'p2c'];

/**
 * hostd's Prometheus/OpenMetrics registry. Every counter is read from the status document at
 * scrape time (nothing is counted twice); the handshake histogram is fed as channels go ACTIVE.
 * Channel bytes, records and drops come from three free-running counters in each ring's producer
 * page (the producer index, the records word and the drops word, mod 2^32, kept by the producing
 * VM's transport as it publishes), refused calls from the consumer page's refused word: the registry keeps the last value per channel and direction
 * and adds the wrapped difference, so a closed channel's counts stay in the totals.
 */
export class HostdMetrics {
  readonly registry = new Registry();
  readonly #handshakes: Histogram;
  readonly #last = new Map<string, ChannelCounts>();
  readonly #totals = new Map<string, { labels: Record<string, string> } & ChannelCounts>();

  constructor(status: () => StatusDocument) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'sivshm_hostd_' });
    this.#handshakes = new Histogram({
      name: 'sivshm_handshake_duration_seconds',
      help: 'Time from a channel request to the channel going ACTIVE',
      buckets: HANDSHAKE_BUCKETS,
      registers,
    });
    let doc: StatusDocument | undefined;
    // One status document per scrape: the first collector reads it, the others reuse it.
    const read = (): StatusDocument => {
      if (doc === undefined) setImmediate(() => (doc = undefined));
      return (doc ??= status());
    };
    const track = this.#trackChannels.bind(this);
    const totals = this.#totals;
    // Both collectors track: whichever runs first in a scrape reads the document's counters,
    // the second finds them unchanged and adds nothing.
    new Counter({
      name: 'sivshm_channel_bytes_total',
      help: 'Record bytes published on channels, by service, direction and channel mode',
      labelNames: ['service', 'direction', 'mode'],
      registers,
      collect() {
        track(read());
        this.reset();
        for (const t of totals.values()) this.inc(t.labels, t.bytes);
      },
    });
    new Counter({
      name: 'sivshm_channel_records_total',
      help: 'Records (SOME/IP messages) published on channels, by service, direction and channel mode',
      labelNames: ['service', 'direction', 'mode'],
      registers,
      collect() {
        track(read());
        this.reset();
        for (const t of totals.values()) this.inc(t.labels, t.records);
      },
    });
    new Counter({
      name: 'sivshm_channel_drops_total',
      help: 'Events a provider could not publish because the ring was full, by service, direction and channel mode',
      labelNames: ['service', 'direction', 'mode'],
      registers,
      collect() {
        track(read());
        this.reset();
        for (const t of totals.values()) this.inc(t.labels, t.drops);
      },
    });
    new Counter({
      name: 'sivshm_channel_refused_calls_total',
      help: 'Requests a provider refused unrun past its maxCallsInFlight (one-way ones included), by service, direction and channel mode',
      labelNames: ['service', 'direction', 'mode'],
      registers,
      collect() {
        track(read());
        this.reset();
        for (const t of totals.values()) this.inc(t.labels, t.refused);
      },
    });
    this.#defineFromStatus(read, registers);
  }

  /** Feeds the handshake histogram (ms → s). */
  observeHandshake(ms: number): void {
    this.#handshakes.observe(ms / 1000);
  }

  #trackChannels(d: StatusDocument): void {
    for (const c of d.channels) {
      if (c.rings === undefined) continue;
      for (const dir of DIRECTIONS) {
        const key = `${c.channelId}/${dir}`;
        const ring = c.rings[dir];
        const now = {
          bytes: ring.producedBytes,
          records: ring.records,
          drops: ring.drops,
          refused: ring.refused,
        };
        const before = this.#last.get(key) ?? { bytes: 0, records: 0, drops: 0, refused: 0 };
        this.#last.set(key, now);
        const service = serviceNameOf(d, c.service);
        const labels = { service, direction: dir, mode: c.mode };
        const id = `${service}/${dir}/${c.mode}`;
        const t = this.#totals.get(id) ?? { labels, bytes: 0, records: 0, drops: 0, refused: 0 };
        t.bytes += (now.bytes - before.bytes) >>> 0;
        t.records += (now.records - before.records) >>> 0;
        t.drops += (now.drops - before.drops) >>> 0;
        t.refused += (now.refused - before.refused) >>> 0;
        this.#totals.set(id, t);
      }
    }
  }

  #defineFromStatus(read: () => StatusDocument, registers: Registry[]): void {
    new Counter({
      name: 'sivshm_refusals_total',
      help: 'Messages hostd refused, by error code',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(read().refusalsByReason)) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'sivshm_handshakes_total',
      help: 'Channel handshakes, by outcome',
      labelNames: ['outcome'],
      registers,
      collect() {
        const h = read().handshakes;
        this.reset();
        this.inc({ outcome: 'established' }, h.established);
        this.inc({ outcome: 'aborted' }, h.aborted);
        this.inc({ outcome: 'rejected' }, h.rejected);
        this.inc({ outcome: 'rate_limited' }, h.rateLimited);
      },
    });
    new Counter({
      name: 'sivshm_integrity_failures_total',
      help: 'mac/aead records a VM refused (bad tag or sequence), by VM',
      labelNames: ['vm'],
      registers,
      collect() {
        this.reset();
        for (const v of read().vms) this.inc({ vm: v.name }, v.integrityFailures);
      },
    });
    new Counter({
      name: 'sivshm_sd_dropped_total',
      help: 'SD messages dropped over a VM budget, by VM',
      labelNames: ['vm'],
      registers,
      collect() {
        this.reset();
        for (const v of read().vms) this.inc({ vm: v.name }, v.sdDropped);
      },
    });
    new Gauge({
      name: 'sivshm_ring_queued_bytes',
      help: 'Bytes published and not yet consumed (ring fill), by channel and direction',
      labelNames: ['channel', 'service', 'direction'],
      registers,
      collect() {
        const d = read();
        this.reset();
        for (const c of d.channels) {
          if (c.rings === undefined) continue;
          const service = serviceNameOf(d, c.service);
          for (const dir of DIRECTIONS) {
            this.set({ channel: c.channelId, service, direction: dir }, c.rings[dir].queuedBytes);
          }
        }
      },
    });
    new Gauge({
      name: 'sivshm_vms_connected',
      help: 'VMs with a live control link',
      registers,
      collect() {
        this.set(read().vms.filter((v) => v.connected).length);
      },
    });
  }
}
