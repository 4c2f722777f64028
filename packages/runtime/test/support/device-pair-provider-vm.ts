// The infotainment VM for the device-isolation spec, as its own OS process: offers
// VehicleSpeed (an isolation: device service in that spec's config) with `reset`, publishing
// `speed` every 10 ms with the odometer `reset` last set, and MediaControl (a region service)
// with `control`. Reports over IPC; exits cleanly on {cmd:'exit'} or a lost IPC channel.
import { Node } from '../../src/index.js';
import { stopOnExitOrDisconnect } from './vm-process-lifecycle.js';

const [configPath, runDir] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined) {
  throw new Error('usage: device-pair-provider-vm <services.yaml> <run-dir>');
}
const report = (m: Record<string, unknown>): void => void process.send?.(m);

try {
  const node = await Node.open({ config: configPath, vm: 'infotainment', runDir });
  let odometer = 1;
  const speedSvc = await node.offer('VehicleSpeed', {
    instance: 1,
    methods: {
      reset: (req: { odometer_m?: unknown }) => {
        const previous = odometer;
        odometer = Number(String(req.odometer_m ?? 0)); // uint64 arrives as a decimal string
        return { previous_odometer_m: previous };
      },
    },
  });
  await node.offer('MediaControl', {
    instance: 1,
    methods: {
      control: () => ({ accepted: true, state: { playing: true, title: 'region track' } }),
    },
  });
  type Speed = { kph: number; odometer_m: number; timestamp_ms: number };
  const speed = speedSvc.publisher<Speed>('speed');
  let n = 0;
  const timer = setInterval(() => {
    speed.publish({ kph: 50, odometer_m: odometer, timestamp_ms: ++n });
  }, 10);
  stopOnExitOrDisconnect(node, timer);
  report({ event: 'ready', pid: process.pid });
} catch (e) {
  report({ event: 'error', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
