import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Names a directory to turn the handshake stage trace on: every process of a deployment (hostd,
 * each VM) then stamps the stages a handshake passes through with the monotonic clock, which
 * all processes of the machine share, and writes them to `<dir>/<pid>.trace`, so one
 * handshake can be followed across the three processes (`hostd-bench.js --trace`,
 * docs/performance.md). Off unless set: a stamp is then one test of a flag.
 */
export const HANDSHAKE_TRACE_ENV = 'SIVSHM_HANDSHAKE_TRACE';

let traceDir: string | undefined = process.env[HANDSHAKE_TRACE_ENV] || undefined;

/** True when this process traces handshake stages (a live binding: see {@link startHandshakeTrace}). */
export let handshakeTraceOn = traceDir !== undefined;

/** Stamps not yet written: `ns stage` lines. */
let pending: string[] = [];
let flushTimer: NodeJS.Timeout | undefined;
let headerWritten = false;

/**
 * Turns the trace on in this process and, through the environment, in the processes it starts
 * from now on (a bench that starts hostd and VMs).
 */
export function startHandshakeTrace(dir: string): void {
  traceDir = dir;
  process.env[HANDSHAKE_TRACE_ENV] = dir;
  if (!handshakeTraceOn) process.on('exit', flushHandshakeTrace);
  handshakeTraceOn = true;
}

/**
 * Records that this process reached `stage` now. The lines are written a little later, off the
 * handshake's path (a write per stamp would be measured with it), and at exit.
 */
export function traceStage(stage: string): void {
  if (!handshakeTraceOn) return;
  pending.push(`${process.hrtime.bigint()} ${stage}`);
  flushTimer ??= setTimeout(flushHandshakeTrace, 50).unref();
}

/** Writes what was stamped so far (called on a timer and at exit). */
export function flushHandshakeTrace(): void {
  flushTimer = undefined;
  if (traceDir === undefined || pending.length === 0) return;
  const lines = pending;
  pending = [];
  mkdirSync(traceDir, { recursive: true });
  if (!headerWritten) {
    headerWritten = true;
    lines.unshift(`# ${process.argv.slice(1).join(' ')}`);
  }
  writeFileSync(join(traceDir, `${process.pid}.trace`), `${lines.join('\n')}\n`, { flag: 'a' });
}

if (handshakeTraceOn) process.on('exit', flushHandshakeTrace);
