// One scale run, shared by `npm run bench -- scale` and the no-churn test: hostd as its own
// process, P provider VM processes each offering S services × I instances, and one consumer
// VM process consuming every instance (one channel each), all on a services.yaml written for
// the run. Figures come from the processes themselves (time until every channel is up,
// handshake times, calls, start-up cost) and from hostd (status: SD drops, handshakes; its log:
// offers that expired; /proc: its RSS).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deploymentAt,
  examplePath,
  forkChild,
  randomGrantKey,
  readStatus,
  siblingEntry,
  startHostd,
  waitFor,
  type Deployment,
  type ForkedChild,
} from '@sivshm/testing';
import { hostdMemory, hostdMemoryProbeArgv } from './hostd-memory.js';
import type { ScaleVmPlan, ScaleVmReport, StartupCost } from './scale-types.js';

/** One scale scenario. */
export interface ScaleScenario {
  readonly providers: number;
  readonly servicesPerProvider: number;
  readonly instancesPerService: number;
  /** Providers offer everything with one Promise.all (else one await after another). */
  readonly atOnce?: boolean;
  /** How long the consumer watches for churn once everything is up, ms (default 0). */
  readonly watchMs?: number;
  /** Bound on the whole run, ms. */
  readonly timeoutMs?: number;
  /** Writes hostd's log lines (JSON) to this file at the end, to trace a run. */
  readonly hostdLogFile?: string;
  /**
   * After set-up, every provider publishes 64-byte events on all its channels and the consumer
   * counts what it receives for this long, ms (after a warm-up).
   */
  readonly eventsMs?: number;
}

export interface ScaleRunResult {
  readonly vms: number;
  readonly channels: number;
  /**
   * The consumer's Node open → it has every channel, ms (the providers start at the same
   * moment, so their start-up and offers are inside it; the consumer's own start-up is not).
   */
  readonly allConnectedMs: number;
  /** VM processes spawned → the consumer has every channel, ms (process start-up included). */
  readonly fromSpawnMs: number;
  readonly handshakeP50Ms: number;
  readonly handshakeP99Ms: number;
  /** Channels established per consumed service: all 1 when nothing churned. */
  readonly connectionsMax: number;
  readonly churnedChannels: number;
  readonly handshakesEstablished: number;
  readonly handshakesAborted: number;
  readonly handshakesRateLimited: number;
  readonly sdDropped: number;
  /** Offers hostd saw expire (their channels torn down). */
  readonly ttlExpiredClosings: number;
  readonly calls: number;
  readonly callsAnswered: number;
  readonly callErrors: readonly string[];
  /**
   * hostd's RSS growth from before the VMs came to all channels up, per channel; both read just
   * after a full garbage collection in hostd (hostd-memory-probe.ts).
   */
  readonly hostdRssPerChannelBytes: number;
  /** hostd's RSS once every channel is up, after a collection (rows compare it across sizes). */
  readonly hostdRssBytes: number;
  /** hostd's live JavaScript heap once every channel is up, after a collection. */
  readonly hostdHeapBytes: number;
  /** The heap V8 has reserved for hostd then (live and free), and per space. */
  readonly hostdHeapTotalBytes: number;
  readonly hostdHeapSpaces: Readonly<Record<string, number>>;
  /** hostd's memory held by C++ objects (buffers included) then, after a collection. */
  readonly hostdExternalBytes: number;
  /** Of hostd's RSS then: its private memory (RssAnon) and the region pages it touched (RssShmem). */
  readonly hostdRssAnonBytes: number;
  readonly hostdRssShmemBytes: number;
  readonly hostdCpuMs: number;
  readonly providerStartup: StartupCost;
  readonly consumerStartup: StartupCost;
  /**
   * Events (64-byte payloads) the consumer received per second while every provider published
   * on all its channels at once; undefined without `eventsMs`.
   */
  readonly eventsPerSec: number | undefined;
  /**
   * The same events per second of the consumer process's CPU time (user + system) over the
   * same window: what the delivery path costs, less sensitive to the share of the CPU the
   * consumer gets on a loaded machine than the wall-clock rate.
   */
  readonly eventsPerConsumerCpuSec: number | undefined;
  /** The largest provider's time from its first offer() to its last one resolving, ms. */
  readonly offerMs: number;
  /** Why channels ended after all were up (the consumer's streams' errors, first few). */
  readonly channelsEnded: readonly string[];
  /** hostd's first warnings (SD over budget, refusals), to say what went wrong. */
  readonly hostdWarnings: readonly string[];
  /** Channels hostd closed or aborted during the run, by reason. */
  readonly closeReasons: Readonly<Record<string, number>>;
}

/** hostd's channel-closing and channel-aborted lines, counted by reason. */
function closeReasonsOf(logs: readonly Record<string, unknown>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of logs) {
    if (e['event'] !== 'channel-closing' && e['event'] !== 'channel-aborted') continue;
    const why = `${String(e['event'])}: ${String(e['reason']).split(':')[0]}`;
    out[why] = (out[why] ?? 0) + 1;
  }
  return out;
}

const WINDOW_BYTES_PER_CHANNEL = 2 * (8192 + 4096); // ringDataSize 4 KiB, both directions

/**
 * The events phase's payload: 62 bytes in a `bytes` field encode to 64 bytes (tag, length,
 * data), the event size issue 17's aggregate target names.
 */
const PAYLOAD_PROTO = [
  'syntax = "proto3";',
  'package sivshm.scale;',
  '// 62 bytes of data: the encoded message is 64 bytes.',
  'message Payload64 { bytes data = 1; }',
  '',
].join('\n');

interface Layout {
  readonly d: Deployment;
  readonly providers: { name: string; plan: ScaleVmPlan }[];
  readonly consumer: { name: string; plan: ScaleVmPlan };
}

/** Writes the run's services.yaml: one VehicleSpeed-shaped service per (provider, k). */
function layout(s: ScaleScenario): Layout {
  const dir = mkdtempSync(join(tmpdir(), 'sivshm-scale-'));
  const regionPath = `/dev/shm/sivshm-scale-${process.pid}-${randomBytes(4).toString('hex')}`;
  const channels = s.providers * s.servicesPerProvider * s.instancesPerService;
  let regionSize = 4 << 20;
  while (regionSize < 2 * channels * WINDOW_BYTES_PER_CHANNEL) regionSize *= 2;
  const instances = Array.from({ length: s.instancesPerService }, (_, i) => i + 1);
  const providers = Array.from({ length: s.providers }, (_, p) => ({
    name: `provider${p + 1}`,
    services: Array.from({ length: s.servicesPerProvider }, (_, k) => ({
      name: `Speed${p + 1}x${k + 1}`,
      id: 0x2000 + p * s.servicesPerProvider + k,
    })),
  }));
  const vmLine = (id: number, name: string): string =>
    `  - { id: ${id}, name: ${name}, grantKey: { hex: ${randomGrantKey()} }, limits: { windowBytes: ${regionSize / 2} } }`;
  const service = (p: { name: string }, svc: { name: string; id: number }): string =>
    [
      `  - name: ${svc.name}`,
      `    id: 0x${svc.id.toString(16)}`,
      `    instances: [${instances.join(', ')}]`,
      '    major: 1',
      '    minor: 0',
      `    provider: ${p.name}`,
      '    consumers: [consumer]',
      '    minMode: plain',
      '    ringDataSize: 4KiB',
      '    eventgroups:',
      '      - { id: 1, name: load, events: [{ id: 0x8001, name: load, type: sivshm.scale.Payload64 }] }',
      '    methods:',
      '      - { id: 1, name: reset, request: sivshm.demo.ResetRequest, response: sivshm.demo.ResetResponse }',
    ].join('\n');
  const yaml = [
    'version: 1',
    `region: { size: ${regionSize}, path: ${regionPath}, channelCapacity: ${channels + 16} }`,
    'vms:',
    ...providers.map((p, i) => vmLine(i + 1, p.name)),
    vmLine(providers.length + 1, 'consumer'),
    `protos: [${examplePath('proto', 'vehicle.proto')}, ${join(dir, 'config', 'scale.proto')}]`,
    'services:',
    ...providers.flatMap((p) => p.services.map((svc) => service(p, svc))),
    '',
  ].join('\n');
  const d = deploymentAt(dir, regionPath);
  mkdirSync(join(dir, 'config'), { recursive: true, mode: 0o700 });
  writeFileSync(d.configPath, yaml, { mode: 0o600 });
  writeFileSync(join(dir, 'config', 'scale.proto'), PAYLOAD_PROTO, { mode: 0o600 });
  const planOf = (p: (typeof providers)[number]) =>
    p.services.map((svc) => ({ name: svc.name, instances }));
  return {
    d,
    providers: providers.map((p) => ({
      name: p.name,
      plan: { role: 'provider', services: planOf(p), atOnce: s.atOnce === true },
    })),
    consumer: {
      name: 'consumer',
      plan: {
        role: 'consumer',
        services: providers.flatMap(planOf),
        ...(s.watchMs === undefined ? {} : { watchMs: s.watchMs }),
      },
    },
  };
}

/** RSS (kB in /proc → bytes) and CPU time (ticks → ms) of a process; Linux only. */
function procFigures(pid: number): { rssBytes: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssBytes: rssKb * 1024, cpuMs: ((Number(stat[11]) + Number(stat[12])) * 1000) / 100 };
}

function percentile(xs: readonly number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

function vmProcess(l: Layout, name: string, plan: ScaleVmPlan, timeoutMs: number) {
  return forkChild<ScaleVmReport>({
    entry: siblingEntry(import.meta.url, 'scale-vm'),
    args: [l.d.configPath, l.d.runDir, name, JSON.stringify(plan)],
    what: `scale VM ${name}`,
    ready: (ms) => ms.some((m) => m.event === (plan.role === 'provider' ? 'ready' : 'connected')),
    failed: (ms) => ms.some((m) => m.event === 'error'),
    timeoutMs,
    pipeStderr: true,
  });
}

function reportOf<E extends ScaleVmReport['event']>(
  c: ForkedChild<ScaleVmReport>,
  event: E,
): Extract<ScaleVmReport, { event: E }> {
  const r = c.messages.find((m) => m.event === event);
  if (r !== undefined) return r as Extract<ScaleVmReport, { event: E }>;
  const err = c.messages.find((m) => m.event === 'error');
  throw new Error(
    err?.event === 'error' ? `${err.vm}: ${err.message}` : `a VM process did not report ${event}`,
  );
}

/** Waits (bounded) until `c` sent `count` messages of `event`. */
async function reported(c: ForkedChild<ScaleVmReport>, event: string, count = 1): Promise<void> {
  await waitFor(
    () => c.messages.filter((m) => m.event === event).length >= count,
    `a VM's ${event} report`,
    30_000,
  );
}

/** Publishing before the count starts: JIT warm-up and every ring filled once. */
const EVENTS_WARMUP_MS = 300;

/**
 * Providers (all but the last child) publish on all their channels; the consumer (last) counts
 * what arrives in a window of wall-clock time set before the publishing starts, after a
 * warm-up. The window is in the command, not marked by commands sent during it: a consumer
 * flooded by many publishers read its IPC pipe only after the flood (a profile of 8 providers ×
 * 32 channels showed it busy receiving for 1.7 s with both commands read back to back).
 */
async function measureEvents(
  children: ForkedChild<ScaleVmReport>[],
  ms: number,
): Promise<{ perSec: number; perCpuSec: number }> {
  const consumer = children.at(-1)!;
  const providers = children.slice(0, -1);
  const fromMs = Date.now() + EVENTS_WARMUP_MS + 200;
  consumer.child.send({ cmd: 'count', fromMs, ms });
  for (const p of providers) p.child.send({ cmd: 'publish', ms: EVENTS_WARMUP_MS + ms + 400 });
  await new Promise((r) => setTimeout(r, fromMs + ms - Date.now() + 50));
  consumer.child.send({ cmd: 'counted' });
  await reported(consumer, 'counted');
  await Promise.all(providers.map((p) => reported(p, 'published')));
  const counted = consumer.messages.find((m) => m.event === 'counted');
  return counted?.event === 'counted'
    ? {
        perSec: counted.received / (counted.ms / 1000),
        perCpuSec: counted.received / (counted.cpuMs / 1000),
      }
    : { perSec: NaN, perCpuSec: NaN };
}

/** Runs `s` once and tears everything down. */
export async function runScale(s: ScaleScenario): Promise<ScaleRunResult> {
  const timeoutMs = s.timeoutMs ?? 120_000;
  const l = layout(s);
  const hostd = await startHostd(l.d, [], { logLevel: 'info', execArgv: hostdMemoryProbeArgv() });
  const children: ForkedChild<ScaleVmReport>[] = [];
  try {
    const memoryBefore = await hostdMemory(hostd.child.pid!);
    const before = procFigures(hostd.child.pid!);
    const t0 = Date.now();
    const started = [
      ...l.providers.map((p) => vmProcess(l, p.name, p.plan, timeoutMs)),
      vmProcess(l, l.consumer.name, l.consumer.plan, timeoutMs),
    ];
    const settled = await Promise.allSettled(started);
    for (const r of settled) if (r.status === 'fulfilled') children.push(r.value);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      const counts = new Map<string, number>();
      for (const e of hostd.logs)
        counts.set(String(e['event']), (counts.get(String(e['event'])) ?? 0) + 1);
      const warnings = [
        Object.fromEntries(counts),
        ...hostd.logs.filter(
          (e) =>
            e['level'] === 'warn' ||
            e['level'] === 'error' ||
            String(e['event']).includes('abort') ||
            String(e['event']).includes('reject'),
        ),
      ];
      throw new Error(
        `${((failed as PromiseRejectedResult).reason as Error).message}; closed: ${JSON.stringify(closeReasonsOf(hostd.logs))}; hostd said: ${JSON.stringify(warnings.slice(0, 8))}`,
      );
    }
    const consumerChild = children.at(-1)!;
    const opened = reportOf(consumerChild, 'open');
    const done = reportOf(consumerChild, 'connected');
    const ready = children.slice(0, -1).map((c) => reportOf(c, 'ready'));
    const after = procFigures(hostd.child.pid!);
    const status = await readStatus(l.d);
    const memory = await hostdMemory(hostd.child.pid!);
    const events = s.eventsMs === undefined ? undefined : await measureEvents(children, s.eventsMs);
    const connections = done.connections;
    return {
      vms: l.providers.length + 1,
      channels: done.channels,
      allConnectedMs: done.connectedAtMs - opened.atMs,
      fromSpawnMs: done.connectedAtMs - t0,
      handshakeP50Ms: percentile(done.handshakeMs, 0.5),
      handshakeP99Ms: percentile(done.handshakeMs, 0.99),
      connectionsMax: Math.max(...connections),
      churnedChannels: connections.filter((n) => n !== 1).length,
      handshakesEstablished: status.handshakes.established,
      handshakesAborted: status.handshakes.aborted,
      handshakesRateLimited: status.handshakes.rateLimited,
      sdDropped: status.vms.reduce((n, v) => n + v.sdDropped, 0),
      ttlExpiredClosings: (status as unknown as { sd: { offersExpired: number } }).sd.offersExpired,
      calls: done.channels,
      callsAnswered: done.callsAnswered,
      callErrors: done.callErrors,
      hostdRssPerChannelBytes: Math.max(0, memory.rssBytes - memoryBefore.rssBytes) / done.channels,
      hostdRssBytes: memory.rssBytes,
      hostdHeapBytes: memory.heapUsedBytes,
      hostdHeapTotalBytes: memory.heapTotalBytes,
      hostdHeapSpaces: memory.heapSpaces,
      hostdExternalBytes: memory.externalBytes,
      hostdRssAnonBytes: memory.rssAnonBytes,
      hostdRssShmemBytes: memory.rssShmemBytes,
      hostdCpuMs: after.cpuMs - before.cpuMs,
      providerStartup: ready[0]!.startup,
      consumerStartup: done.startup,
      offerMs: Math.max(...ready.map((r) => r.offerMs)),
      eventsPerSec: events?.perSec,
      eventsPerConsumerCpuSec: events?.perCpuSec,
      channelsEnded: done.ended,
      hostdWarnings: hostd.logs
        .filter((e) => e['level'] === 'warn' || e['event'] === 'channel-closing')
        .slice(0, 5)
        .map((e) => JSON.stringify(e)),
      closeReasons: closeReasonsOf(hostd.logs),
    };
  } finally {
    if (s.hostdLogFile !== undefined)
      writeFileSync(s.hostdLogFile, hostd.logs.map((e) => JSON.stringify(e)).join('\n'));
    await Promise.all(children.map((c) => c.stop()));
    await hostd.stop();
    l.d.cleanup();
  }
}
