// Child process of sigbus-guard.int.spec.ts. It maps through the package's own API, prints
// one JSON line per step on stdout and waits for the parent's next word on stdin between
// steps; the parent (another process) truncates and grows the file in between. If the guard
// failed, this process would die by SIGBUS, which the spec sees as the exit signal.
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { closeSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Channel } from '../src/channel/channel.js';
import { EmulatedDevice } from '../src/device/emulated-device.js';
import { mapFile } from '../src/native/map-file.js';
import { mappingLost, remapFile, sigbusGuardInfo } from '../src/native/sigbus-guard.js';
import { signTestGrant } from './device/test-grant.js';

export const PAGES = 16;

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function next(): Promise<string> {
  const r = await lines.next();
  if (r.done === true) process.exit(3);
  return r.value as string;
}
function say(step: string, data: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ step, ...data }) + '\n');
}

/** Maps the file, is truncated under, reads and writes everything, is grown back, remaps. */
async function truncated(path: string): Promise<void> {
  const m = mapFile(path, 0, PAGES * PAGE_SIZE, { writable: true });
  const bytes = new Uint8Array(m.shared);
  for (let p = 0; p < PAGES; p++) bytes[p * PAGE_SIZE] = p + 1;
  say('mapped', { lost: mappingLost(m.handle) });
  await next(); // the parent truncated the file to one page
  const seen: number[] = [];
  for (let p = 0; p < PAGES; p++) seen.push(Atomics.load(bytes, p * PAGE_SIZE));
  // Writes through both aliases, past the end and before it.
  bytes[100] = 0xab; // page 0: still the file's
  bytes[5 * PAGE_SIZE + 100] = 0xab;
  new Uint8Array(m.bulk).fill(0xcd, 9 * PAGE_SIZE, 10 * PAGE_SIZE);
  say('touched', { seen, lost: mappingLost(m.handle), guard: sigbusGuardInfo() });
  await next(); // the parent grew the file back
  const fd = openSync(path, 'r+');
  remapFile(m.handle, fd);
  closeSync(fd);
  bytes[7 * PAGE_SIZE] = 0xef; // through the shared file again
  say('remapped', { lost: mappingLost(m.handle), page0: bytes[100], page5: bytes[5 * PAGE_SIZE] });
  process.exit(0);
}

/** A consumer channel on an emulated-device window; the file is truncated under it. */
async function channel(path: string, dataOffset: number): Promise<void> {
  const key = new Uint8Array(32).fill(0x42);
  const dev = new EmulatedDevice({ regionPath: path, vmId: 2, grantKey: key });
  const f = dev.open();
  const g = signTestGrant(key, {
    role: 'consumer',
    vmId: 2,
    channelId: 5n,
    windowOffset: dataOffset,
    windowLength: WindowLayout.windowLength(PAGE_SIZE),
    kn: f.nonce,
  });
  f.presentGrant(g.token, g.tag);
  const c = new Channel({
    window: f.mapWindow(5n),
    role: 'consumer',
    notify: 'spin',
    peerTimeoutMs: 60_000,
  });
  say('mapped', { state: c.state });
  await next(); // the parent truncated the file to its header page
  const deadline = Date.now() + 10_000;
  while (c.state === 'open' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  say('failed', { state: c.state, code: c.failure?.code, message: c.failure?.message });
  await c.close();
  f.close();
  dev.close();
  process.exit(0);
}

/** A SIGBUS the guard does not own (sent with kill) still ends the process. */
function foreign(path: string): void {
  mapFile(path, 0, PAGE_SIZE, { writable: true }); // installs the handler
  say('armed', { guard: sigbusGuardInfo() });
  process.kill(process.pid, 'SIGBUS');
  setTimeout(() => say('survived'), 1000);
}

const [role, path, extra] = process.argv.slice(2);
if (role === 'truncated') await truncated(path!);
else if (role === 'channel') await channel(path!, Number(extra));
else if (role === 'foreign') foreign(path!);
else process.exit(2);
