// Figures of the app runtime through hostd (emulated mode): hostd and the infotainment VM as
// separate OS processes (test/support), this process as the cluster VM. Measures the handshake
// of each consume (M1 sent → grant verified) and back-to-back method round trips.
//   node packages/runtime/dist/bench/node-rtt.bench.js [--calls N] [--opens N] [--json]
import { Node } from '../src/index.js';
import {
  makeDeployment,
  startHostd,
  startProviderVm,
  type Child,
} from '../test/support/deployment.js';

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
const d = makeDeployment();
let hostd: Child | undefined;
let provider: Child | undefined;
try {
  hostd = await startHostd(d);
  provider = await startProviderVm(d);
  const handshakeMs: number[] = [];
  let rttUs: number[] = [];
  for (let i = 0; i < opens; i++) {
    const node = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    try {
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      handshakeMs.push(speed.handshakeMs!);
      if (i === opens - 1) {
        for (let c = 0; c < 200; c++) await speed.call('reset', { odometer_m: 0 }); // warm-up
        rttUs = [];
        for (let c = 0; c < calls; c++) {
          const t0 = process.hrtime.bigint();
          await speed.call('reset', { odometer_m: 0 });
          rttUs.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
      }
    } finally {
      await node.close();
    }
  }
  const result = {
    handshakeMs: { first: handshakeMs[0], p50: q(handshakeMs.slice(1), 0.5), runs: opens },
    methodRttUs: { p50: q(rttUs, 0.5), p99: q(rttUs, 0.99), calls },
  };
  if (process.argv.includes('--json')) console.log(JSON.stringify(result));
  else {
    console.log(
      `handshake (consume, M1 → grant): first ${result.handshakeMs.first?.toFixed(2)} ms, ` +
        `p50 of the next ${opens - 1}: ${result.handshakeMs.p50.toFixed(2)} ms`,
    );
    console.log(
      `method round trip, back to back (${calls} calls): p50 ${result.methodRttUs.p50.toFixed(1)} µs, ` +
        `p99 ${result.methodRttUs.p99.toFixed(1)} µs`,
    );
  }
} finally {
  await provider?.stop();
  await hostd?.stop();
  d.cleanup();
}
