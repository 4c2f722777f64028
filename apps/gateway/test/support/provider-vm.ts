// The infotainment VM as its own OS process for the gateway's integration test: opens a Node,
// offers VehicleSpeed instance 1 with `reset` and instance 2, publishes `speed` on both every
// 10 ms, and reports every
// method call it served over IPC (so the test sees what reached the VM). Exits on {cmd:'exit'}.
import { Node } from '@sivshm/runtime';

const [configPath, runDir] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined)
  throw new Error('usage: provider-vm <services.yaml> <run-dir>');
const report = (m: Record<string, unknown>): void => void process.send?.(m);

try {
  const node = await Node.open({ config: configPath, vm: 'infotainment', runDir });
  let odometer = 1000;
  const svc = await node.offer('VehicleSpeed', {
    instance: 1,
    methods: {
      reset: (req: { odometer_m?: number }) => {
        const previous = odometer;
        odometer = Number(String(req.odometer_m ?? 0)); // uint64 arrives as a decimal string
        report({ event: 'call', method: 'reset', odometer_m: odometer });
        return { previous_odometer_m: previous };
      },
    },
  });
  // Instance 2 carries the same events; the gateway exports it with a multicast eventgroup.
  const second = await node.offer('VehicleSpeed', { instance: 2 });
  type Speed = { kph: number; odometer_m: number; timestamp_ms: number };
  const speed = svc.publisher<Speed>('speed');
  const speed2 = second.publisher<Speed>('speed');
  let n = 0;
  const timer = setInterval(() => {
    n += 1;
    speed.publish({ kph: 50 + (n % 50), odometer_m: odometer, timestamp_ms: n * 10 });
    speed2.publish({ kph: 150 + (n % 50), odometer_m: odometer, timestamp_ms: n * 10 });
  }, 10);
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await node.close();
    process.disconnect?.();
  };
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'exit') void stop();
  });
  process.on('disconnect', () => void stop().catch(() => process.exit(1)));
  report({ event: 'ready' });
} catch (e) {
  report({ event: 'error', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
