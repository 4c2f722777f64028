// The infotainment VM as its own OS process, for the runtime's integration tests: opens a Node
// on the config and run dir given in argv, offers VehicleSpeed with the `reset` method, and
// publishes `speed` every 10 ms. Reports over IPC; exits cleanly on {cmd:'exit'}.
import { Node } from '../../src/index.js';
import { stopOnExitOrDisconnect } from './vm-process-lifecycle.js';
import { profileThisProcessIfAsked } from '../../bench/cpu-profile.js';

profileThisProcessIfAsked('provider-vm');

const [configPath, runDir] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined) {
  throw new Error('usage: provider-vm <services.yaml> <run-dir>');
}
const report = (m: Record<string, unknown>): void => void process.send?.(m);

try {
  const node = await Node.open({ config: configPath, vm: 'infotainment', runDir });
  let odometer = 1000;
  const svc = await node.offer('VehicleSpeed', {
    instance: 1,
    methods: {
      reset: (req: { odometer_m?: number }) => {
        const next = Number(String(req.odometer_m ?? 0)); // uint64 arrives as a decimal string
        if (next > 1e9) throw new Error('odometer_m must be ≤ 1e9');
        const previous = odometer;
        odometer = next;
        return { previous_odometer_m: previous };
      },
    },
  });
  svc.consumers$.subscribe((count) => report({ event: 'consumers', count }));
  type Speed = { kph: number; odometer_m: number; timestamp_ms: number };
  const speed = svc.publisher<Speed>('speed', { inPlace: false }); // the copy lane
  const speedInPlace = svc.publisher<Speed>('speed', { inPlace: true });
  let n = 0;
  const timer = setInterval(() => {
    odometer += 1;
    const sample = { kph: 50 + (n++ % 50), odometer_m: odometer, timestamp_ms: n * 10 };
    // Both lanes, alternating, so the tests see records from each.
    if (n % 2 === 0) speed.publish(sample);
    else speedInPlace.publish(sample);
  }, 10);
  stopOnExitOrDisconnect(node, timer);
  report({ event: 'ready', pid: process.pid });
} catch (e) {
  report({ event: 'error', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
