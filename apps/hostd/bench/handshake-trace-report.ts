// Where a handshake through hostd spends its time, from the stage stamps every process wrote
// (core's handshake-trace.ts, `SIVSHM_HANDSHAKE_TRACE`): each handshake is cut from the
// consumer's M1 request to its grant presented, and its stamps (all processes read the same
// monotonic clock) are split into Ed25519 work, hops between processes and the rest.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

interface Stamp {
  readonly ns: bigint;
  readonly who: string;
  readonly stage: string;
}

/** Median of each part of one handshake, µs. */
export interface HandshakeTraceSummary {
  readonly handshakes: number;
  readonly totalUs: number;
  /** Ed25519 signs and verifications on the path, and the time inside them. */
  readonly signs: number;
  readonly verifications: number;
  readonly ed25519Us: number;
  /** From a message written (link:queued) to the peer's read (link:data), summed over hops. */
  readonly hops: number;
  readonly hopsUs: number;
  /** What is left, by process: decoding, checks, hashing, encoding, the device, the loop. */
  readonly otherUsByProcess: Record<string, number>;
  /** Median offset (µs from M1 requested) of every stage seen in most handshakes, in order. */
  readonly stages: readonly { readonly stage: string; readonly atUs: number }[];
}

function readStamps(dir: string, roles: ReadonlyMap<number, string>): Stamp[] {
  const all: Stamp[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.trace'))) {
    const who = roles.get(Number(f.slice(0, -'.trace'.length))) ?? 'other';
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const at = line.indexOf(' ');
      all.push({ ns: BigInt(line.slice(0, at)), who, stage: line.slice(at + 1) });
    }
  }
  return all.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
}

/** Each consumer handshake's stamps, from `vm:request` to `vm:grant-presented`. */
function cut(all: readonly Stamp[]): Stamp[][] {
  const out: Stamp[][] = [];
  let cur: Stamp[] | undefined;
  for (const s of all) {
    if (s.who === 'consumer' && s.stage === 'vm:request') cur = [];
    if (cur === undefined) continue;
    cur.push(s);
    if (s.who === 'consumer' && s.stage === 'vm:grant-presented') {
      out.push(cur);
      cur = undefined;
    }
  }
  return out;
}

const us = (a: bigint, b: bigint): number => Number(b - a) / 1e3;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** One handshake split into its parts. */
function split(h: readonly Stamp[]): {
  total: number;
  signs: number;
  verifications: number;
  ed: number;
  hops: number;
  hopUs: number;
  other: Map<string, number>;
} {
  const busy = new Map<string, number>();
  let ed = 0;
  let signs = 0;
  let verifications = 0;
  let hops = 0;
  let hopUs = 0;
  const open = new Map<string, bigint>();
  let queued: Stamp | undefined;
  for (let i = 1; i < h.length; i++) {
    const s = h[i]!;
    const key = `${s.who} ${s.stage.slice(0, -1)}`;
    if (s.stage.startsWith('crypto:') && s.stage.endsWith('<')) open.set(key, s.ns);
    else if (s.stage.startsWith('crypto:') && open.has(key)) {
      ed += us(open.get(key)!, s.ns);
      if (s.stage.startsWith('crypto:sign')) signs++;
      else verifications++;
      open.delete(key);
    }
    if (s.stage.startsWith('link:queued M')) queued = s;
    if (s.stage === 'link:data' && queued !== undefined && queued.who !== s.who) {
      hops++;
      hopUs += us(queued.ns, s.ns);
      queued = undefined;
    }
  }
  const total = us(h[0]!.ns, h.at(-1)!.ns);
  // The rest, by the process that was on the path: from its read of a message to its write.
  let from: Stamp | undefined = h[0];
  for (const s of h) {
    if (s.stage === 'link:data' && from === undefined) from = s;
    if ((s.stage.startsWith('link:queued M') || s.stage === 'vm:grant-presented') && from) {
      busy.set(s.who, (busy.get(s.who) ?? 0) + us(from.ns, s.ns));
      from = undefined;
    }
  }
  return { total, signs, verifications, ed, hops, hopUs, other: busy };
}

/**
 * Reads `dir`'s trace files (pids named by `roles`: consumer, hostd, provider) and summarises
 * the handshakes found, after the first `warmUp`.
 */
export function summariseHandshakeTrace(
  dir: string,
  roles: ReadonlyMap<number, string>,
  warmUp = 20,
): HandshakeTraceSummary {
  const hs = cut(readStamps(dir, roles)).slice(warmUp);
  const parts = hs.map(split);
  const edByWho = new Map<string, number[]>();
  for (const h of hs) {
    const byWho = new Map<string, number>();
    const open = new Map<string, bigint>();
    for (const s of h) {
      if (!s.stage.startsWith('crypto:')) continue;
      const key = `${s.who} ${s.stage.slice(0, -1)}`;
      if (s.stage.endsWith('<')) open.set(key, s.ns);
      else if (open.has(key)) byWho.set(s.who, (byWho.get(s.who) ?? 0) + us(open.get(key)!, s.ns));
    }
    for (const who of ['consumer', 'hostd', 'provider'])
      (edByWho.get(who) ?? edByWho.set(who, []).get(who)!).push(byWho.get(who) ?? 0);
  }
  const otherUsByProcess: Record<string, number> = {};
  for (const who of ['consumer', 'hostd', 'provider']) {
    const busy = median(parts.map((p) => p.other.get(who) ?? 0));
    otherUsByProcess[who] = Math.max(0, busy - median(edByWho.get(who) ?? [0]));
  }
  const offsets = new Map<string, number[]>();
  for (const h of hs) {
    const seen = new Map<string, number>();
    for (const s of h) {
      const k0 = `${s.who} ${s.stage}`;
      const n = (seen.get(k0) ?? 0) + 1;
      seen.set(k0, n);
      const k = n > 1 ? `${k0} #${n}` : k0;
      (offsets.get(k) ?? offsets.set(k, []).get(k)!).push(us(h[0]!.ns, s.ns));
    }
  }
  const stages = [...offsets]
    .filter(([, v]) => v.length >= hs.length * 0.8)
    .map(([stage, v]) => ({ stage, atUs: median(v) }))
    .sort((a, b) => a.atUs - b.atUs);
  return {
    handshakes: hs.length,
    totalUs: median(parts.map((p) => p.total)),
    signs: median(parts.map((p) => p.signs)),
    verifications: median(parts.map((p) => p.verifications)),
    ed25519Us: median(parts.map((p) => p.ed)),
    hops: median(parts.map((p) => p.hops)),
    hopsUs: median(parts.map((p) => p.hopUs)),
    otherUsByProcess,
    stages,
  };
}

/** The summary as text: the stage table, then the split. */
export function formatHandshakeTrace(t: HandshakeTraceSummary): string {
  const rows = t.stages.map((s, i) => {
    const step = i === 0 ? 0 : s.atUs - t.stages[i - 1]!.atUs;
    return `${s.atUs.toFixed(0).padStart(7)} ${`+${step.toFixed(0)}`.padStart(6)}  ${s.stage}`;
  });
  const other = Object.entries(t.otherUsByProcess)
    .map(([who, v]) => `${who} ${v.toFixed(0)}`)
    .join(', ');
  return (
    `stage trace, ${t.handshakes} handshakes (median µs from M1 requested; step from the row before):\n` +
    `${rows.join('\n')}\n` +
    `split (medians, µs): total ${t.totalUs.toFixed(0)} = Ed25519 ${t.ed25519Us.toFixed(0)} ` +
    `(${t.signs} signs + ${t.verifications} verifications) + ${t.hops} hops ${t.hopsUs.toFixed(0)} ` +
    `+ the rest by process (${other})\n`
  );
}
