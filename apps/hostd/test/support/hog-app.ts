// A hostile consumer app in its own OS process (issue 13 case 1), on the VM named in argv
// (a consumer of MediaControl): it takes one zero-copy `volume` sample and never releases it, so
// its channel never reads another record from the provider — no event, no reply — and it keeps
// the request ring full of valid `control` calls. Everything goes through the public runtime
// API: a buggy app can do this without meaning to. Counts how its calls end, by error code, and
// reports them on {cmd:'report'}; ends on {cmd:'exit'}.
import { Node, RuntimeError } from '@sivshm/runtime';
import { report, reportStartFailure, serveTest } from './vm-app-process.js';

const [configPath, runDir, vm] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined || vm === undefined) {
  throw new Error('usage: hog-app <services.yaml> <run-dir> <vm>');
}

/** Calls issued per top-up, and top-ups per second: enough to refill the ring at once. */
const CALLS_PER_TOP_UP = 200;
const TOP_UP_MS = 5;

try {
  const node = await Node.open({ config: configPath, vm, runDir });
  const media = await node.consume('MediaControl', { instance: 1, timeoutMs: 10_000 });
  const outcomes: Record<string, number> = {};
  let fastestBusyMs = Infinity;
  let held = false;
  // On every channel (a restarted hostd or provider brings a new one): take one sample, keep it.
  media.status$.subscribe((status) => {
    if (status !== 'connected') return void (held = false);
    media.samples<{ volume: number }>('volume', { acrossChannels: false }).subscribe({
      next: () => {
        held = true; // never released: the channel delivers nothing more to this process
      },
      error: () => void (held = false),
    });
  });
  let inFlight = 0;
  const topUp = (): void => {
    if (!held) return;
    for (let i = 0; i < CALLS_PER_TOP_UP; i++) {
      const t0 = performance.now();
      inFlight++;
      media
        .call('control', { command: 1 }, { timeoutMs: 1000 })
        .then(
          () => 'ok',
          (e: unknown) => (RuntimeError.is(e) ? e.code : String(e)),
        )
        .then((outcome) => {
          inFlight--;
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          if (outcome === 'ERR_BUSY')
            fastestBusyMs = Math.min(fastestBusyMs, performance.now() - t0);
        });
    }
  };
  const timer = setInterval(topUp, TOP_UP_MS);
  const close = async (): Promise<void> => {
    clearInterval(timer);
    await node.close();
  };
  serveTest(close, {
    report: () => report({ event: 'hog', held, inFlight, outcomes, fastestBusyMs }),
  });
} catch (e) {
  reportStartFailure(e);
}
