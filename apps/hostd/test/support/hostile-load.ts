// What the hostile-load cases (and `npm run soak`) measure and send: a process's RSS and fds
// from /proc, raw control links to hostd, and floods bounded in time.
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { MessageType } from '@sivshm/core';
import { encodeControlFrame, encodeControlMessage, encodeProto } from '@sivshm/core/testing';
import type { PackEntry } from '@sivshm/discovery';
import { SERVICE } from './test-deployment.js';

/** Resident set of a process, MiB (/proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}
export const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/**
 * CPU time a process has used, user + system, ms (/proc/<pid>/stat, in USER_HZ ticks: 100 on
 * every Linux architecture). Unlike a latency, it does not grow when the machine is busy.
 */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const frame = (m: Parameters<typeof encodeControlMessage>[0]): Uint8Array =>
  encodeControlFrame(encodeControlMessage(m));

/** A handshake frame carrying an M1 of zeros: well framed, never a valid handshake (case 3). */
export function junkM1Frame(): Uint8Array {
  const m1 = encodeProto('HandshakeMessage', {
    type: MessageType.m1,
    body: new Uint8Array(64),
    sig: new Uint8Array(64),
  });
  return frame({ kind: 'handshake', message: m1 });
}

/** 4000 SD Find entries for MediaControl, far more than any VM can need (case 4). */
export function oversizedFinds(): PackEntry[] {
  return Array.from({ length: 4000 }, () => ({
    entry: {
      type: 'find',
      serviceId: SERVICE.media,
      instanceId: 0xffff,
      majorVersion: 0xff,
      minorVersion: 0xffff_ffff,
      ttl: 3,
    },
    options: [],
  }));
}

/** A raw connection to a VM's control socket, connected. */
export async function rawLink(socketPath: string): Promise<net.Socket> {
  const s = net.connect(socketPath);
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** Writes `chunk` as fast as the socket takes it for `ms`, or until it closes. */
export async function floodFor(s: net.Socket, chunk: Uint8Array, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let bytes = 0;
  while (Date.now() < end && !s.destroyed) {
    if (!s.write(chunk)) {
      // Until the socket drains, closes, or the time is up: what is written waits in this
      // process, so the flood runs at the rate hostd reads it, not faster.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          s.off('drain', done);
          s.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, end - Date.now()));
        s.once('drain', done);
        s.once('close', done);
      });
    }
    bytes += chunk.length;
    await new Promise((r) => setImmediate(r));
  }
  return bytes;
}

/** `n` copies of `f` back to back. */
export function repeat(f: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(f.length * n);
  for (let i = 0; i < n; i++) out.set(f, i * f.length);
  return out;
}
