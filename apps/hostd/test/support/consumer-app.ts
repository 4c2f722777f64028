// A legitimate consumer app in its own OS process, on the VM named in argv (the cluster):
// with `speed` it takes VehicleSpeed's `speed` events and records every per-record error on the
// service's errors$ (issue 13 case 2; {cmd:'resubscribe'} takes the stream again); with `media`
// it calls MediaControl's `control` every 20 ms, one at a time, and times the answers (case 1:
// the provider must still answer it while another consumer abuses it). Reports on
// {cmd:'report'}; ends on {cmd:'exit'}.
import { Node, RuntimeError, type ConsumedService } from '@sivshm/runtime';
import type { Subscription } from 'rxjs';
import { report, reportStartFailure, serveTest } from './vm-app-process.js';

const [configPath, runDir, vm, ...what] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined || vm === undefined) {
  throw new Error('usage: consumer-app <services.yaml> <run-dir> <vm> [speed] [media]');
}

/** The `speed` stream of the current channel, taken again on request and after a reconnect. */
class SpeedListener {
  events = 0;
  /** Events on the stream taken by the last `resubscribe`. */
  eventsSinceResubscribe = 0;
  readonly errors: { code: string; message: string }[] = [];
  streamErrors = 0;
  #sub: Subscription | undefined;

  constructor(private readonly speed: ConsumedService) {
    speed.errors$.subscribe((e) =>
      this.errors.push({ code: (e as { code?: string }).code ?? 'none', message: e.message }),
    );
    // After a reconnect (hostd or provider restarted) the old stream ended: take a new one.
    speed.status$.subscribe((s) => {
      if (s === 'connected') this.take();
    });
  }

  take(): void {
    this.#sub?.unsubscribe();
    this.#sub = this.speed.event<{ kph: number }>('speed').subscribe({
      next: () => {
        this.events++;
        this.eventsSinceResubscribe++;
      },
      error: () => this.streamErrors++,
    });
  }

  resubscribe(): void {
    this.eventsSinceResubscribe = 0;
    this.take();
  }
}

/** One `control` call at a time, every 20 ms; counts answers and failures, keeps latencies. */
class Caller {
  answered = 0;
  readonly failures: Record<string, number> = {};
  readonly latenciesMs: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(private readonly media: ConsumedService) {
    this.#timer = setInterval(() => void this.#one(), 20);
  }

  async #one(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    const t0 = performance.now();
    try {
      await this.media.call('control', { command: 2 }, { timeoutMs: 1000 });
      this.answered++;
      this.latenciesMs.push(performance.now() - t0);
    } catch (e) {
      const code = RuntimeError.is(e) ? e.code : String(e);
      this.failures[code] = (this.failures[code] ?? 0) + 1;
    } finally {
      this.#busy = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

try {
  const node = await Node.open({ config: configPath, vm, runDir });
  const listener = what.includes('speed')
    ? new SpeedListener(await node.consume('VehicleSpeed', { instance: 1, timeoutMs: 10_000 }))
    : undefined;
  const caller = what.includes('media')
    ? new Caller(await node.consume('MediaControl', { instance: 1, timeoutMs: 10_000 }))
    : undefined;
  const close = async (): Promise<void> => {
    caller?.stop();
    await node.close();
  };
  serveTest(close, {
    resubscribe: () => listener?.resubscribe(),
    report: () =>
      report({
        event: 'consumer',
        events: listener?.events ?? 0,
        eventsSinceResubscribe: listener?.eventsSinceResubscribe ?? 0,
        errors: listener?.errors ?? [],
        streamErrors: listener?.streamErrors ?? 0,
        answered: caller?.answered ?? 0,
        failures: caller?.failures ?? {},
        latenciesMs: caller?.latenciesMs.splice(0) ?? [],
      }),
  });
} catch (e) {
  reportStartFailure(e);
}
