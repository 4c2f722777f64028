// The least a three-process handshake through hostd can take on this machine, measured in the
// same run as the handshakes: the signatures on its critical path, and the hops between processes.
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { cryptoBackend } from '@sivshm/core';

/**
 * Messages between M1 sent and the grant accepted: M1 (consumer → hostd), M2 (hostd →
 * provider), M3 (provider → hostd), M4 (hostd → consumer). Each is signed by its sender and
 * verified by its receiver before the next can leave, so at least this many signs and as many
 * verifications run one after another (certificate checks come on top).
 */
export const CRITICAL_PATH_MESSAGES = 4;

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** CPU-time median (ms) of `n` Ed25519 signs and `n` verifications (node:crypto), over `rounds`. */
export function signVerifyMs(n: number, rounds: number): number {
  const crypto = cryptoBackend('node');
  const sk = crypto.ed25519GenerateSecretKey();
  const pk = crypto.ed25519PublicKey(sk);
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const msgs = Array.from({ length: n }, () => crypto.randomBytes(50));
    const t0 = process.cpuUsage();
    for (const m of msgs) {
      if (!crypto.ed25519Verify(crypto.ed25519Sign(sk, m), m, pk)) throw new Error('floor: verify');
    }
    const d = process.cpuUsage(t0);
    times.push((d.user + d.system) / 1000);
  }
  return median(times);
}

/**
 * p50 (ms) of one message from one process to another over a Unix socket like hostd's links:
 * half a round trip to an echo process, back to back (a lower bound: within a handshake each
 * process has sat idle while the others computed, and waking it costs more).
 */
export async function socketHopMs(n: number): Promise<number> {
  const socket = path.join(os.tmpdir(), `sivshm-hop-${process.pid}.sock`);
  rmSync(socket, { force: true });
  const echo = `require('net').createServer((s) => s.on('data', (d) => s.write(d))).listen(${JSON.stringify(socket)}, () => console.log('ready'))`;
  const child = spawn(process.execPath, ['-e', echo], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve, reject) => {
      child.stdout.once('data', resolve);
      child.once('exit', (c) => reject(new Error(`hop echo process exited (${c})`)));
    });
    const s = net.connect(socket);
    await new Promise((resolve) => s.once('connect', resolve));
    s.setNoDelay(true);
    const rtt: number[] = [];
    for (let i = 0; i < n + 20; i++) {
      const t0 = performance.now();
      const back = new Promise((resolve) => s.once('data', resolve));
      s.write('x');
      await back;
      if (i >= 20) rtt.push(performance.now() - t0);
    }
    s.destroy();
    return median(rtt) / 2;
  } finally {
    child.kill('SIGKILL');
    rmSync(socket, { force: true });
  }
}
