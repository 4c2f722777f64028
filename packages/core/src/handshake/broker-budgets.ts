import { TokenBucket } from '../util/token-bucket.js';
import type { BrokerEffect } from './broker-types.js';
import { abortMessage } from './handshake-failure.js';
import { readVarint } from './peek-control.js';

/** Per-VM limits (docs/security.md). */
export interface BrokerLimits {
  /** Sustained M1 rate per VM. Default 20/s. */
  readonly requestsPerSecond: number;
  /** Burst of M1 per VM. Default 5. */
  readonly burst: number;
  /** Half-open handshakes per consumer VM. Default 8. */
  readonly pendingPerVm: number;
  /** Window bytes a consumer VM may hold (pending + active). Default 16 MiB. */
  readonly windowBytesPerVm: bigint;
}

/** A VM's admission state: its limits, its token bucket and the burst it is in, if any. */
interface VmBudget {
  readonly limits: BrokerLimits;
  readonly bucket: TokenBucket;
  /** Messages refused since the VM went over budget; undefined while it is under. */
  refusedInBurst: number | undefined;
  /** When the last message was refused for the budget. */
  lastRefusedMs: bigint;
  /** The refusal's detail text, and its ABORT (req_seq 0) that each refusal is spliced from. */
  readonly detail: string;
  readonly abortTemplate: Uint8Array;
}

/** What one charge to a VM's budget did. */
export interface Charge {
  /** A token was taken: the message may be handled. */
  readonly admitted: boolean;
  /** `over-budget` notes: the burst that this charge started or ended, if any. */
  readonly notes: BrokerEffect[];
  /** The VM's refusal text and its `rateLimited` ABORT template (for a refused M1). */
  readonly detail: string;
  readonly abortTemplate: Uint8Array;
}

/**
 * The broker's rate budgets: one token bucket per VM, charged before a message is decoded, and
 * the bookkeeping that reports a burst of refusals twice (when it starts and when it ends)
 * instead of once per message.
 */
export class BrokerBudgets {
  readonly #defaults: BrokerLimits;
  readonly #limitsOf: ((vmId: number) => Partial<BrokerLimits> | undefined) | undefined;
  readonly #nowMs: () => bigint;
  readonly #budgets = new Map<number, VmBudget>();

  constructor(o: {
    limits: Partial<BrokerLimits> | undefined;
    limitsOf: ((vmId: number) => Partial<BrokerLimits> | undefined) | undefined;
    nowMs: () => bigint;
  }) {
    this.#defaults = {
      requestsPerSecond: o.limits?.requestsPerSecond ?? 20,
      burst: o.limits?.burst ?? 5,
      pendingPerVm: o.limits?.pendingPerVm ?? 8,
      windowBytesPerVm: o.limits?.windowBytesPerVm ?? 16n * 1024n * 1024n,
    };
    this.#limitsOf = o.limitsOf;
    this.#nowMs = o.nowMs;
  }

  /** The limits that apply to `vmId`. */
  limitsOf(vmId: number): BrokerLimits {
    return this.#budget(vmId).limits;
  }

  /**
   * Takes a token from `vmId`'s bucket. Admitted, it may end the VM's burst (`ended` note);
   * refused, it counts in the burst and starts one (`started` note) if none is running.
   */
  charge(vmId: number): Charge {
    const b = this.#budget(vmId);
    const notes: BrokerEffect[] = [];
    if (b.bucket.take()) {
      const ended = this.#burstEnded(vmId, b);
      if (ended !== undefined) notes.push(ended);
      return { admitted: true, notes, detail: b.detail, abortTemplate: b.abortTemplate };
    }
    b.lastRefusedMs = this.#nowMs();
    if (b.refusedInBurst === undefined) {
      b.refusedInBurst = 0;
      notes.push({ kind: 'over-budget', vmId, state: 'started', refused: 0, detail: b.detail });
    }
    b.refusedInBurst++;
    return { admitted: false, notes, detail: b.detail, abortTemplate: b.abortTemplate };
  }

  /** Forgets a VM's bucket and burst (it went away; it starts afresh). */
  forget(vmId: number): void {
    this.#budgets.delete(vmId);
  }

  /** The `ended` note once the VM has been quiet for the time its bucket takes to refill. */
  #burstEnded(vmId: number, b: VmBudget): BrokerEffect | undefined {
    if (b.refusedInBurst === undefined) return undefined;
    const refillMs = BigInt(
      Math.max(1000, Math.ceil((b.limits.burst / b.limits.requestsPerSecond) * 1000)),
    );
    if (this.#nowMs() - b.lastRefusedMs < refillMs) return undefined;
    const refused = b.refusedInBurst;
    b.refusedInBurst = undefined;
    return {
      kind: 'over-budget',
      vmId,
      state: 'ended',
      refused,
      detail: `VM ${vmId} is back under its handshake budget after ${refused} refused messages`,
    };
  }

  #budget(vmId: number): VmBudget {
    let b = this.#budgets.get(vmId);
    if (b === undefined) {
      const own = this.#limitsOf?.(vmId);
      const d = this.#defaults;
      const limits: BrokerLimits = {
        requestsPerSecond: own?.requestsPerSecond ?? d.requestsPerSecond,
        burst: own?.burst ?? d.burst,
        pendingPerVm: own?.pendingPerVm ?? d.pendingPerVm,
        windowBytesPerVm: own?.windowBytesPerVm ?? d.windowBytesPerVm,
      };
      const detail = `VM ${vmId} is over its handshake budget of ${limits.requestsPerSecond}/s (burst ${limits.burst})`;
      b = {
        limits,
        bucket: new TokenBucket(limits.requestsPerSecond, limits.burst, this.#nowMs),
        refusedInBurst: undefined,
        lastRefusedMs: 0n,
        detail,
        abortTemplate: rateLimitedAbortTemplate(detail),
      };
      this.#budgets.set(vmId, b);
    }
    return b;
  }
}

const ABORT_REQ_SEQ = 2;

function pushVarint(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/**
 * The `rateLimited` ABORT for channel 0 and req_seq 0 with `detail`: the template
 * {@link rateLimitedAbort} adds a req_seq to. Built once per VM with the regular encoder.
 */
export function rateLimitedAbortTemplate(detail: string): Uint8Array {
  return abortMessage(0n, 0n, 'rateLimited', detail);
}

/**
 * The template's ABORT for request `reqSeq`, byte for byte what `abortMessage(0n, reqSeq,
 * 'rateLimited', detail)` encodes, built without protobufjs since it runs at a flooder's rate:
 * req_seq (AbortBody field 2) goes first in the body, as channel_id (field 1) is 0 and absent.
 */
export function rateLimitedAbort(reqSeq: bigint, template: Uint8Array): Uint8Array {
  if (reqSeq === 0n) return template;
  // The template is [type tag, 7, body tag, body length (varint), body].
  const len = readVarint(template, 3);
  if (len === undefined) return template;
  const body = template.subarray(len.next);
  const seq: number[] = [(ABORT_REQ_SEQ << 3) | 0];
  pushVarint(seq, reqSeq);
  const head: number[] = [template[0]!, template[1]!, template[2]!];
  pushVarint(head, BigInt(seq.length + body.length));
  const out = new Uint8Array(head.length + seq.length + body.length);
  out.set(head, 0);
  out.set(seq, head.length);
  out.set(body, head.length + seq.length);
  return out;
}
