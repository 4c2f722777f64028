// The provider of the benchmark's PLAIN path: the same `reset` method and `speed` event as the
// infotainment VM, served over a raw shared window with the same Channel and ServiceProvider —
// but no hostd, no handshake, no certificates, no grant, no device. argv[2]: JSON { config,
// region, offset, length }; fds 3 and 4: the c2p and p2c eventfds.
import { loadConfig } from '@sivshm/core';
import { Channel, mapFile, ServiceProvider, windowOf } from '@sivshm/transport-ivshmem';
import { EventfdWaker } from '@sivshm/transport-ivshmem/testing';
import { statSync } from 'node:fs';

const job = JSON.parse(process.argv[2] ?? '{}') as {
  config: string;
  region: string;
  offset: number;
  length: number;
};
const config = await loadConfig(job.config);
const svc = config.services.find((s) => s.name === 'VehicleSpeed')!;
const reset = svc.methods.find((m) => m.name === 'reset')!;
const speedEvent = svc.eventgroups.flatMap((g) => g.events).find((e) => e.name === 'speed')!;
const type = (name: string) => config.protoRoot.lookupType(name);
const m = mapFile(job.region, 0, statSync(job.region).size, { writable: true });
const channel = new Channel({
  window: windowOf(
    { shared: new Uint8Array(m.shared), bulk: new Uint8Array(m.bulk) },
    job.offset,
    job.length,
  ),
  role: 'provider',
  notify: 'adaptive',
  peerWaker: new EventfdWaker(4),
  ownWaker: new EventfdWaker(3),
});
const provider = new ServiceProvider(channel, { service: svc.id, major: svc.major, client: 0 });
let odometer = 1000;
provider.serve<{ odometer_m?: number }, object>(
  reset.id,
  type(reset.request),
  type(reset.response),
  (req) => {
    const previous = odometer;
    odometer = Number(String(req.odometer_m ?? 0));
    return { previous_odometer_m: previous };
  },
);
const speed = provider.publisher(speedEvent.id, type(speedEvent.type));
let n = 0;
const timer = setInterval(() => {
  odometer += 1;
  speed.publish({ kph: 50 + (n++ % 50), odometer_m: odometer, timestamp_ms: n * 10 });
}, 10);
channel.state$.subscribe((s) => {
  if (s !== 'open') {
    clearInterval(timer);
    process.exit(0);
  }
});
process.stdout.write('ready\n');
