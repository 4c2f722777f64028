// One VM of the scale benchmark and test, as its own OS process: a provider offers every
// instance of its services (one after another, or all at once), a consumer consumes every
// instance listed, calls each once, and watches for churn. Reports over IPC; argv:
// <services.yaml> <run-dir> <vm name> <plan JSON>. Start-up cost is measured in the process:
// module import, Node.open, and CPU/RSS once ready.
import { performance } from 'node:perf_hooks';
import type { ScaleVmPlan, ScaleVmReport } from './scale-types.js';

/** What the consumer saw at one end of its counting window. */
interface WindowEnd {
  readonly count: number;
  readonly atMs: number;
  readonly cpu: NodeJS.CpuUsage;
}

/** The consumer's counting window [fromMs, toMs) (wall clock) and its ends once passed. */
interface CountWindow {
  readonly fromMs: number;
  readonly toMs: number;
  start?: WindowEnd;
  end?: WindowEnd;
}

/** Events between two reads of the clock in the consumer's handler. */
const EVENTS_PER_CLOCK_READ = 256;

const [configPath, runDir, vm, planJson] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined || vm === undefined || planJson === undefined)
  throw new Error('usage: scale-vm <services.yaml> <run-dir> <vm> <plan JSON>');
const plan = JSON.parse(planJson) as ScaleVmPlan;
const report = (m: ScaleVmReport): void => void process.send?.(m);

/** CPU (user + system) and RSS of this process so far. */
function cost(): { cpuMs: number; rssBytes: number } {
  const c = process.cpuUsage();
  return { cpuMs: (c.user + c.system) / 1000, rssBytes: process.memoryUsage().rss };
}

try {
  const importStart = performance.now();
  const { Node } = await import('../../src/index.js');
  const importMs = performance.now() - importStart;
  const openStart = performance.now();
  const node = await Node.open({ config: configPath, vm, runDir });
  const openMs = performance.now() - openStart;
  const stop = async (): Promise<void> => {
    await node.close().catch(() => undefined);
    process.disconnect?.();
  };
  // The events phase (harness commands): providers publish as fast as the rings take for
  // `ms`; the consumer counts what arrives in the wall-clock window [fromMs, fromMs + ms)
  // given by `count`, and reports it on `counted`. The handler reads the clock once every
  // EVENTS_PER_CLOCK_READ events, not per event (at 256 channels a Date.now() per event was 8 %
  // of the consumer's time in a CPU profile), and notes count, clock and CPU when it first sees
  // an end of the window passed; a timer at each end does the same when events are sparse. Not
  // the timers alone: a consumer flooded by 8 publishers runs its timers only after the flood.
  const events = {
    received: 0,
    window: undefined as CountWindow | undefined,
    timers: [] as NodeJS.Timeout[],
    publish: (_ms: number) => Promise.resolve(0),
  };
  const mark = (): void => {
    const w = events.window;
    if (w === undefined || w.end !== undefined) return;
    const now = Date.now();
    if (now < w.fromMs) return;
    const here = (): WindowEnd => ({ count: events.received, atMs: now, cpu: process.cpuUsage() });
    w.start ??= here();
    if (now >= w.toMs) w.end = here();
  };
  const onEvent = (): void => {
    if (++events.received % EVENTS_PER_CLOCK_READ === 0) mark();
  };
  process.on('message', (m: { cmd?: string; ms?: number; fromMs?: number }) => {
    if (m.cmd === 'exit') void stop();
    if (m.cmd === 'publish')
      void events.publish(m.ms ?? 1000).then((sent) => report({ event: 'published', vm, sent }));
    if (m.cmd === 'count') {
      const fromMs = m.fromMs ?? Date.now();
      const toMs = fromMs + (m.ms ?? 1000);
      events.window = { fromMs, toMs };
      events.timers.push(
        setTimeout(mark, fromMs - Date.now()),
        setTimeout(mark, toMs - Date.now()),
      );
    }
    if (m.cmd === 'counted') {
      mark();
      const w = events.window;
      for (const t of events.timers.splice(0)) clearTimeout(t);
      const { start, end } = w ?? {};
      const cpu =
        start === undefined || end === undefined
          ? NaN
          : (end.cpu.user - start.cpu.user + end.cpu.system - start.cpu.system) / 1000;
      report({
        event: 'counted',
        vm,
        received: start === undefined || end === undefined ? 0 : end.count - start.count,
        ms: start === undefined || end === undefined ? NaN : end.atMs - start.atMs,
        cpuMs: cpu,
      });
    }
  });
  process.on('disconnect', () => void stop().catch(() => process.exit(1)));
  const startup = { importMs, openMs, ...cost() };
  if (plan.role === 'provider') {
    const offerStart = performance.now();
    const offer = (name: string, instance: number) =>
      node.offer(name, {
        instance,
        methods: { reset: () => ({ previous_odometer_m: instance }) },
      });
    const all = plan.services.flatMap((s) => s.instances.map((i) => [s.name, i] as const));
    const offered = plan.atOnce ? await Promise.all(all.map(([name, i]) => offer(name, i))) : [];
    if (!plan.atOnce) for (const [name, i] of all) offered.push(await offer(name, i));
    const publishers = offered.map((svc) => svc.publisher<object>('load'));
    events.publish = async (ms) => {
      const sample = { data: new Uint8Array(62).fill(0x5a) }; // encodes to 64 bytes
      const until = performance.now() + ms;
      let sent = 0;
      while (performance.now() < until) {
        // Each channel's ring filled as far as it takes, then the other tasks run. When every
        // ring was full the process sleeps a moment instead of spinning: on two cores a
        // publisher that spins takes the CPU from the consumer it waits for.
        let round = 0;
        // Bounded per channel: publish() is also true for a publisher nobody consumes.
        for (const p of publishers) for (let k = 0; k < 256 && p.publish(sample); k++) round++;
        sent += round;
        await new Promise((r) => (round === 0 ? setTimeout(r, 1) : setImmediate(r)));
      }
      return sent;
    };
    report({ event: 'ready', vm, startup, offerMs: performance.now() - offerStart, ...cost() });
  } else {
    report({ event: 'open', vm, startup, atMs: Date.now() });
    // Why a channel ended, if one did: its event stream errors with the reason.
    const ended: string[] = [];
    const consumed = await Promise.all(
      plan.services.flatMap((s) =>
        s.instances.map(async (instance) => {
          const c = await node.consume(s.name, { instance, timeoutMs: 60_000 });
          c.event('load').subscribe({
            next: onEvent,
            error: (e: Error) => void ended.push(e.message),
          });
          return c;
        }),
      ),
    );
    const connectedAtMs = Date.now();
    const answers = await Promise.allSettled(
      consumed.map((c) => c.call('reset', { odometer_m: 0 }, { timeoutMs: 5_000 })),
    );
    const failures = answers.filter((a) => a.status === 'rejected');
    // Churn shows after a TTL: an Offer dropped on the way expires 3 s later and its channel
    // is torn down and rebuilt (connections > 1).
    await new Promise((r) => setTimeout(r, plan.watchMs ?? 0));
    report({
      event: 'connected',
      vm,
      startup,
      connectedAtMs,
      channels: consumed.length,
      handshakeMs: consumed.map((c) => c.handshakeMs ?? NaN),
      connections: consumed.map((c) => c.connections),
      ended: ended.slice(0, 5),
      callsAnswered: answers.length - failures.length,
      callErrors: failures
        .slice(0, 3)
        .map((f) => String((f as PromiseRejectedResult).reason?.message ?? f)),
      ...cost(),
    });
  }
} catch (e) {
  report({ event: 'error', vm, message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
