// Figures of the app runtime through hostd (emulated mode): hostd and the infotainment VM as
// separate OS processes (test/support), this process as the cluster VM. Measures the handshake
// of each consume (M1 sent → grant verified), back-to-back method round trips, and the parked
// case: calls made --interval-ms apart, so both VMs sleep between them (what an app calling a
// few times a second sees), alternating call by call with the baseline a user would pick
// instead — the same method over a Node Unix socket whose peer is idle between calls
// (./uds-peer.ts) — so both see the same machine.
//   node packages/runtime/dist-test/bench/node-rtt.bench.js [--calls N] [--opens N]
//     [--parked-calls N] [--interval-ms N] [--json]
import { fork } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { Node } from '../src/index.js';
import {
  makeDeployment,
  startHostd,
  startProviderVm,
  type Child,
} from '../test/support/deployment.js';
import { loadConfig } from '@sivshm/core';
import { sleep } from '@sivshm/testing';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
};

const calls = arg('--calls', 2000);
const opens = arg('--opens', 10);
const parkedCalls = arg('--parked-calls', 200);
const intervalMs = arg('--interval-ms', 20);
const since = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1000;

/** A client of ./uds-peer.ts: `reset` over a Unix socket; events are read and dropped. */
async function udsClient(
  configPath: string,
): Promise<{ call: (odometer: number) => Promise<void>; close: () => void }> {
  const config = await loadConfig(configPath);
  const reset = config.services
    .find((s) => s.name === 'VehicleSpeed')!
    .methods.find((m) => m.name === 'reset')!;
  const Request = config.protoRoot.lookupType(reset.request);
  const Response = config.protoRoot.lookupType(reset.response);
  const socket = path.join(os.tmpdir(), `sivshm-node-rtt-${process.pid}.sock`);
  rmSync(socket, { force: true });
  const fromSource = import.meta.url.endsWith('.ts');
  const peer = fork(
    new URL(`./uds-peer${fromSource ? '.ts' : '.js'}`, import.meta.url).pathname,
    [JSON.stringify({ config: configPath, socket })],
    {
      execArgv: fromSource ? ['--conditions=source', '--import', 'tsx'] : [],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the Unix socket peer did not start')), 20_000);
    peer.stdout!.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    peer.once('exit', (c) => reject(new Error(`the Unix socket peer exited (${c})`)));
  });
  const s = net.connect(socket);
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.setNoDelay(true);
  let answer: (() => void) | undefined;
  let buf = Buffer.alloc(0);
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4) {
      const n = buf.readUInt32LE(0);
      if (buf.length < 4 + n) break;
      const kind = buf.readUInt8(4);
      const body = buf.subarray(5, 4 + n);
      buf = buf.subarray(4 + n);
      if (kind === 2) {
        Response.decode(body);
        answer?.();
      }
    }
  });
  return {
    call: (odometer) =>
      new Promise<void>((resolve) => {
        answer = resolve;
        const body = Request.encode({ odometer_m: odometer }).finish();
        const head = Buffer.alloc(5);
        head.writeUInt32LE(body.length + 1, 0);
        head.writeUInt8(1, 4);
        s.write(Buffer.concat([head, body]));
      }),
    close: () => {
      s.destroy();
      peer.kill();
      rmSync(socket, { force: true });
    },
  };
}

const d = makeDeployment();
let hostd: Child | undefined;
let provider: Child | undefined;
let uds: Awaited<ReturnType<typeof udsClient>> | undefined;
try {
  hostd = await startHostd(d);
  provider = await startProviderVm(d);
  uds = await udsClient(d.configPath);
  const handshakeMs: number[] = [];
  let rttUs: number[] = [];
  const parkedUs: number[] = [];
  const udsParkedUs: number[] = [];
  for (let i = 0; i < opens; i++) {
    const node = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    try {
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      handshakeMs.push(speed.handshakeMs!);
      if (i === opens - 1) {
        for (let c = 0; c < 200; c++) {
          await speed.call('reset', { odometer_m: 0 }); // warm-up
          await uds.call(0);
        }
        rttUs = [];
        for (let c = 0; c < calls; c++) {
          const t0 = process.hrtime.bigint();
          await speed.call('reset', { odometer_m: 0 });
          rttUs.push(since(t0));
        }
        // Parked: alternate the two paths call by call, each after the same idle gap.
        for (let c = 0; c < parkedCalls; c++) {
          await sleep(intervalMs);
          let t0 = process.hrtime.bigint();
          await speed.call('reset', { odometer_m: 0 });
          parkedUs.push(since(t0));
          await sleep(intervalMs);
          t0 = process.hrtime.bigint();
          await uds.call(0);
          udsParkedUs.push(since(t0));
        }
      }
    } finally {
      await node.close();
    }
  }
  const result = {
    handshakeMs: { first: handshakeMs[0], p50: q(handshakeMs.slice(1), 0.5), runs: opens },
    methodRttUs: { p50: q(rttUs, 0.5), p99: q(rttUs, 0.99), calls },
    parkedRttUs: {
      intervalMs,
      calls: parkedCalls,
      sivshm: { p50: q(parkedUs, 0.5), p99: q(parkedUs, 0.99) },
      unixSocket: { p50: q(udsParkedUs, 0.5), p99: q(udsParkedUs, 0.99) },
    },
  };
  if (process.argv.includes('--json')) console.log(JSON.stringify(result));
  else {
    const p = result.parkedRttUs;
    console.log(
      `handshake (consume, M1 → grant): first ${result.handshakeMs.first?.toFixed(2)} ms, ` +
        `p50 of the next ${opens - 1}: ${result.handshakeMs.p50.toFixed(2)} ms`,
    );
    console.log(
      `method round trip, back to back (${calls} calls): p50 ${result.methodRttUs.p50.toFixed(1)} µs, ` +
        `p99 ${result.methodRttUs.p99.toFixed(1)} µs`,
    );
    console.log(
      `method round trip, one call every ${intervalMs} ms (${parkedCalls} calls, both sides parked): ` +
        `sivshm p50 ${p.sivshm.p50.toFixed(1)} µs, p99 ${p.sivshm.p99.toFixed(1)} µs; ` +
        `Unix socket p50 ${p.unixSocket.p50.toFixed(1)} µs, p99 ${p.unixSocket.p99.toFixed(1)} µs`,
    );
  }
} finally {
  uds?.close();
  await provider?.stop();
  await hostd?.stop();
  d.cleanup();
}
