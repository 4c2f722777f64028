// The baseline a user would pick instead of sivshm for node-rtt's parked case: the same `reset`
// method (protobuf from the same config) answered over a Node Unix socket, length-prefixed,
// with a `speed` event pushed every 10 ms like the infotainment VM does, so the client is woken
// as often on both paths. argv[2]: JSON { config, socket }. Prints 'ready' once listening.
import { loadConfig } from '@sivshm/core';
import net from 'node:net';

const job = JSON.parse(process.argv[2] ?? '{}') as { config: string; socket: string };
const config = await loadConfig(job.config);
const svc = config.services.find((s) => s.name === 'VehicleSpeed')!;
const reset = svc.methods.find((m) => m.name === 'reset')!;
const speedEvent = svc.eventgroups.flatMap((g) => g.events).find((e) => e.name === 'speed')!;
const Request = config.protoRoot.lookupType(reset.request);
const Response = config.protoRoot.lookupType(reset.response);
const Speed = config.protoRoot.lookupType(speedEvent.type);

/** Frame: u32 length (LE), u8 kind (1 request, 2 response, 3 event), protobuf body. */
function frame(kind: number, body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32LE(body.length + 1, 0);
  head.writeUInt8(kind, 4);
  return Buffer.concat([head, body]);
}

let odometer = 1000;
const server = net.createServer((s) => {
  s.setNoDelay(true);
  let buf = Buffer.alloc(0);
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4) {
      const n = buf.readUInt32LE(0);
      if (buf.length < 4 + n) break;
      const req = Request.decode(buf.subarray(5, 4 + n)) as { odometer_m?: number };
      buf = buf.subarray(4 + n);
      const previous = odometer;
      odometer = Number(String(req.odometer_m ?? 0));
      s.write(frame(2, Response.encode({ previous_odometer_m: previous }).finish()));
    }
  });
  let k = 0;
  const timer = setInterval(() => {
    odometer += 1;
    const body = Speed.encode({ kph: 50 + (k++ % 50), odometer_m: odometer, timestamp_ms: k * 10 });
    s.write(frame(3, body.finish()));
  }, 10);
  s.on('close', () => clearInterval(timer));
  s.on('error', () => clearInterval(timer));
});
server.listen(job.socket, () => process.stdout.write('ready\n'));
process.on('disconnect', () => process.exit(0));
