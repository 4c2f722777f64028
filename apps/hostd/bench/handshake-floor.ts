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
 * provider), M3 (provider → hostd), M4 (hostd → consumer), each written before the next can
 * leave: as many hops between processes, one after another.
 */
export const CRITICAL_PATH_MESSAGES = 4;

/**
 * The Ed25519 operations on that path, as `hostd-bench.js --trace` counts them one after
 * another: the consumer signs M1; hostd verifies it and signs M2; the provider verifies M2
 * (hostd) and the M1 inside it (the consumer), and signs M3; hostd verifies M3 and signs M4;
 * the consumer verifies M4 (hostd) and M3 (the provider) and signs M5 before it reports the
 * grant. Certificate checks are cached and come on top only once per certificate.
 */
export const CRITICAL_PATH_SIGNS = 5;
export const CRITICAL_PATH_VERIFICATIONS = 6;

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** CPU-time median (ms) of `signs` Ed25519 signs and `verifications` verifications (node:crypto), over `rounds`. */
export function signVerifyMs(signs: number, verifications: number, rounds: number): number {
  const crypto = cryptoBackend('node');
  const sk = crypto.ed25519GenerateSecretKey();
  const pk = crypto.ed25519PublicKey(sk);
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const msgs = Array.from({ length: Math.max(signs, verifications) }, () =>
      crypto.randomBytes(50),
    );
    const sigs = msgs.map((m) => crypto.ed25519Sign(sk, m));
    const t0 = process.cpuUsage();
    for (let i = 0; i < signs; i++) crypto.ed25519Sign(sk, msgs[i]!);
    for (let i = 0; i < verifications; i++) {
      if (!crypto.ed25519Verify(sigs[i]!, msgs[i]!, pk)) throw new Error('floor: verify');
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
