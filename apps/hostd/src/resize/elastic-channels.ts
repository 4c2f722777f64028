import { windowLayout, type PageGranule } from '@sivshm/abi';
import type {
  BrokerChannel,
  BrokerEffect,
  BrokerHandshakes,
  ControlMessage,
  ElasticWindow,
  ServiceConfig,
} from '@sivshm/core';
import type { ChannelLifecycle } from '../channels/channel-lifecycle.js';
import type { JsonLogger } from '../log/logger.js';
import { regionWindowWords, ringFigures } from '../rings/ring-figures.js';
import type { StatusRingDirection } from '../status/status-server.js';
import { ElasticPlanner } from './elastic-planner.js';
import type { DirectionSample } from './resize-policy.js';

/** What hostd gives its elastic channels. */
export interface ElasticChannelsOptions {
  readonly config: ServiceConfig;
  readonly broker: BrokerHandshakes;
  readonly lifecycle: ChannelLifecycle;
  readonly route: (effects: readonly BrokerEffect[]) => void;
  readonly send: (vmId: number, m: ControlMessage) => boolean;
  readonly log: JsonLogger;
  /** The region mapping hostd reads ring words from; undefined once it is gone. */
  readonly regionMemory: () => ArrayBufferLike | undefined;
  readonly pageGranule: PageGranule;
  /** Bytes elastic channels may hold together (the region's data section). */
  readonly budgetBytes: number;
  /** Monotonic ms. */
  readonly nowMs?: () => number;
}

interface Move {
  readonly old: BrokerChannel;
  readonly successor: BrokerChannel;
  readonly moved: Set<number>;
  readonly deadline: number;
  readonly kind: 'grow' | 'shrink';
}

/** Counts and the last decisions, for status. */
export interface ElasticStatus {
  grown: number;
  shrunk: number;
  failed: number;
  moving: number;
  last: { channel: string; decision: string; ringDataSize: number; reason: string }[];
}

/**
 * hostd's side of elastic channels (docs/protocol.md §11): at each tick it reads the ring words
 * of every active channel of an `elastic` service, lets the {@link ElasticPlanner} decide, and
 * carries a move out — a window and table slot reserved, the successor's grants sent to both
 * ends in `resize`, the successor adopted when both answered `resized` (the old id then revoked
 * with receipts, no peer-gone), or both ids torn down past the move's bound.
 */
export class ElasticChannels {
  readonly #o: ElasticChannelsOptions;
  readonly #planner: ElasticPlanner<bigint>;
  readonly #moves = new Map<bigint, Move>();
  readonly #now: () => number;
  readonly status: ElasticStatus = { grown: 0, shrunk: 0, failed: 0, moving: 0, last: [] };

  constructor(o: ElasticChannelsOptions) {
    this.#o = o;
    this.#now = o.nowMs ?? (() => performance.now());
    this.#planner = new ElasticPlanner({ budgetBytes: o.budgetBytes, pageGranule: o.pageGranule });
  }

  /** Samples, decides, starts moves, and ends the ones past their bound. */
  tick(): void {
    const now = this.#now();
    for (const [id, m] of [...this.#moves]) {
      if (now < m.deadline) continue;
      this.#moves.delete(id);
      this.status.failed++;
      this.#o.log.warn('channel-resize-failed', {
        channel: hex(id),
        successor: hex(m.successor.channelId),
        moved: [...m.moved],
      });
      this.#o.route(this.#o.broker.abandonSuccessor(id, m.successor));
    }
    this.status.moving = this.#moves.size;
    const states = this.#samples(now);
    if (states.length === 0) return;
    for (const p of this.#planner.plan(states.map((s) => s.state))) {
      if (p.decision.kind === 'hold') continue;
      const s = states.find((x) => x.state.key === p.key)!;
      this.#start(
        s.channel,
        s.state.bounds,
        p.decision.kind,
        p.decision.toRingDataSize,
        p.decision.reason,
      );
    }
  }

  /** A VM reports its end of `channelId` moved to `successorId`. */
  resized(vmId: number, channelId: bigint, successorId: bigint): void {
    const m = this.#moves.get(channelId);
    const ch = m?.old;
    if (
      m === undefined ||
      m.successor.channelId !== successorId ||
      (vmId !== ch!.consumerVm && vmId !== ch!.providerVm)
    ) {
      this.#o.log.warn('resized-unexpected', {
        vm: vmId,
        channel: hex(channelId),
        successor: hex(successorId),
      });
      return;
    }
    m.moved.add(vmId);
    if (m.moved.size < 2) return;
    this.#moves.delete(channelId);
    if (m.kind === 'grow') this.status.grown++;
    else this.status.shrunk++;
    this.#o.log.info('channel-resized', {
      channel: hex(channelId),
      successor: hex(successorId),
      length: m.successor.window.length.toString(),
    });
    this.#o.route(this.#o.broker.adoptSuccessor(channelId, m.successor));
  }

  #start(
    ch: BrokerChannel,
    bounds: ElasticWindow,
    kind: 'grow' | 'shrink',
    ring: number,
    reason: string,
  ): void {
    const { lifecycle, broker, log } = this.#o;
    const length = BigInt(windowLayout(this.#o.pageGranule).windowLength(ring));
    const window = lifecycle.reserve(length);
    if (window === undefined) {
      log.info('resize-no-space', {
        channel: hex(ch.channelId),
        detail: lifecycle.shortage(length),
      });
      return;
    }
    const s = broker.successorOf(ch.channelId, window);
    if (s === undefined) {
      lifecycle.apply({ kind: 'window-free', channel: { ...ch, window }, cause: 'aborted' });
      return;
    }
    lifecycle.apply({ kind: 'channel-pending', channel: s.channel });
    for (const role of ['consumer', 'provider'] as const) {
      this.#o.send(role === 'consumer' ? ch.consumerVm : ch.providerVm, {
        kind: 'resize',
        channelId: ch.channelId,
        successorId: s.channel.channelId,
        grantToken: s.grants[role].token,
        grantTag: s.grants[role].tag,
        timeoutMs: bounds.moveTimeoutMs,
      });
    }
    this.#moves.set(ch.channelId, {
      old: ch,
      successor: s.channel,
      moved: new Set(),
      // The VMs' own bound, plus a margin for the control link both ways.
      deadline: this.#now() + bounds.moveTimeoutMs + 1000,
      kind,
    });
    const last = { channel: hex(ch.channelId), decision: kind, ringDataSize: ring, reason };
    this.status.last = [last, ...this.status.last].slice(0, 16);
    log.info('channel-resize', { ...last, successor: hex(s.channel.channelId) });
  }

  /** Every active region channel of an elastic service, not moving, with its ring words. */
  #samples(nowMs: number) {
    const memory = this.#o.regionMemory();
    if (memory === undefined) return [];
    const layout = windowLayout(this.#o.pageGranule);
    const out = [];
    for (const ch of this.#o.broker.activeChannels()) {
      const svc = this.#o.config.services.find((s) => s.id === ch.service);
      if (svc?.elastic === undefined || svc.isolation === 'device' || this.#moves.has(ch.channelId))
        continue;
      const length = Number(ch.window.length);
      const ring = layout.dataSizeOf(length);
      const words = regionWindowWords(memory, Number(ch.window.offset));
      const rings = ringFigures(this.#o.pageGranule, length, words);
      if (ring === undefined || rings === undefined) continue;
      const dir = (d: StatusRingDirection): DirectionSample => ({
        usedBytes: d.queuedBytes,
        drops: d.drops,
      });
      out.push({
        channel: ch,
        state: {
          key: ch.channelId,
          bounds: svc.elastic,
          sample: { nowMs, ringDataSize: ring, c2p: dir(rings.c2p), p2c: dir(rings.p2c) },
        },
      });
    }
    return out;
  }
}

function hex(id: bigint): string {
  return `0x${id.toString(16)}`;
}
