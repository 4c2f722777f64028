// The raw-socket attackers of `npm run soak`, in their own OS process (so their floods do not
// delay the soak's own measurements): junk M1s from a VM that never reads (case 3), 16 KiB
// `error` frames (case 5), 4000-entry SD Finds (case 4), a squatter that never says hello
// (case 7) and a hoard of ivshmem-server connections (case 6). Each starts over when hostd
// drops it or restarts. Counts what it did; reports on {cmd:'report'}; ends on {cmd:'exit'}.
import net from 'node:net';
import path from 'node:path';
import {
  floodFor,
  frame,
  junkM1Frame,
  oversizedFinds,
  rawLink,
  repeat,
  sleep,
} from '../test/support/hostile-load.js';
import { REQUEST_ALL } from '../test/support/test-deployment.js';
import { TestVm } from '../test/support/test-vm.js';

const runDir = process.argv[2] ?? '';
if (runDir === '') throw new Error('usage: soak-attackers <run-dir>');
const socket = (vm: string): string => path.join(runDir, `${vm}.sock`);
const report = (m: Record<string, unknown>): void => void process.send?.(m);

let running = true;
const counts = {
  junkM1Bytes: 0,
  errorFrameBytes: 0,
  sdFloods: 0,
  squatterDrops: 0,
  ivshmemOpened: 0,
  reconnects: 0,
};

/** Floods `chunk` on a fresh link of `vm` (hello first) for `ms`, never reading. */
async function floodLink(vm: string, chunk: Uint8Array, ms: number): Promise<number> {
  const s = await rawLink(socket(vm));
  try {
    s.pause();
    s.write(frame({ kind: 'hello', version: 1, software: 'soak-attacker' }));
    return await floodFor(s, chunk, ms);
  } finally {
    s.destroy();
  }
}

/** Cases 3 and 5 by turns, one line-rate flood at a time: 1 s of flood, 0.5 s of rest. */
async function floods(): Promise<void> {
  const junk = repeat(junkM1Frame(), 256);
  const errors = repeat(frame({ kind: 'error', code: 'ERR_X', message: 'E'.repeat(16384) }), 4);
  while (running) {
    counts.junkM1Bytes += await floodLink('rogue-junk', junk, 1000).catch(() => 0);
    await sleep(500);
    counts.errorFrameBytes += await floodLink('rogue-log', errors, 1000).catch(() => 0);
    await sleep(500);
  }
}

/** Case 4: an enrolled VM sending 4000-entry Finds every 100 ms; enrols again after a drop. */
async function sdFinds(): Promise<void> {
  const finds = oversizedFinds();
  while (running) {
    let vm: TestVm | undefined;
    try {
      vm = await TestVm.connect(socket('rogue-sd'));
      await vm.enrol(REQUEST_ALL);
      while (running && !vm.closed) {
        vm.sendSd(finds);
        counts.sdFloods++;
        await sleep(100);
      }
    } catch {
      // hostd restarting, or it dropped us: start over.
    } finally {
      vm?.close();
    }
    counts.reconnects++;
    await sleep(500);
  }
}

/** Case 7: connects to a VM's socket and never says hello; again as soon as it is dropped. */
async function squatter(): Promise<void> {
  while (running) {
    const s = await rawLink(socket('squatted')).catch(() => undefined);
    if (s !== undefined) {
      s.resume();
      await new Promise<void>((resolve) => s.once('close', () => resolve()));
      counts.squatterDrops++;
    }
    await sleep(200);
  }
}

/** Case 6: holds up to 8 ivshmem-server connections that never read, opening more each second. */
async function ivshmemHoard(): Promise<void> {
  const held = new Set<net.Socket>();
  while (running) {
    while (held.size < 8) {
      const s = net.connect(path.join(runDir, 'ivshmem.sock'));
      s.on('error', () => undefined);
      s.on('close', () => held.delete(s));
      s.pause();
      held.add(s);
      counts.ivshmemOpened++;
    }
    await sleep(1000);
  }
  for (const s of held) s.destroy();
}

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'report') report({ event: 'attackers', ...counts });
  if (m.cmd === 'exit') {
    running = false;
    setTimeout(() => process.exit(0), 1500).unref();
    process.disconnect?.();
  }
});
process.on('disconnect', () => {
  running = false;
  setTimeout(() => process.exit(0), 1500).unref();
});
report({ event: 'ready', pid: process.pid });
void Promise.all([floods(), sdFinds(), squatter(), ivshmemHoard()]).then(() => process.exit(0));
