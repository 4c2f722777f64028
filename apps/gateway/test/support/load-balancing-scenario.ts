// Child process of load-balancing.int.spec.ts, run inside a private network namespace (lo up,
// multicast on, 127.0.0.2 and 127.0.0.3 added). Two external SOME/IP ECUs built from raw sockets
// offer the same VehicleSpeed instance: A on 127.0.0.2 with load balancing priority 5, then B on
// 127.0.0.3 with priority 1. The gateway (127.0.0.1) imports the instance and the cluster VM
// consumes it. Prints which ECU the gateway was subscribed at, and which events reached the VM,
// in each phase: A alone, B added, B withdrawn.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@sivshm/core';
import { Node } from '@sivshm/runtime';
import { makeDeployment, sleep, startHostd, startLiveCapture, waitFor } from '@sivshm/testing';
import { Gateway } from '../../src/gateway.js';
import { runScenario } from './export-deployment.js';
import { SD_PORT } from './raw-someip-peer.js';
import { RawSomeIpProvider, type OfferedInstance } from './raw-someip-provider.js';
import { TEST_SD_TIMING } from './test-sd-timing.js';

const outDir = process.argv[2] ?? '/tmp';
const rawPcap = join(outDir, 'raw.pcap');
const pcap = join(outDir, 'load-balancing.pcap');
const GW_UDP = 30701;
const ECU_UDP = 30801;
const GATEWAY_SECTION = `
gateway:
  unicast: 127.0.0.1
  import:
    - { service: VehicleSpeed, instance: 1, udp: ${GW_UDP} }
`;
const log: string[] = [];
const note = (s: string): void => void log.push(`${Math.round(performance.now())} ${s}`);

type Speed = { kph: number; odometer_m: number; timestamp_ms: number };

/** One phase as the ECUs and the VM saw it. */
interface Phase {
  readonly subscribedAtA: boolean;
  readonly subscribedAtB: boolean;
  /** kph of the events the VM received from the ECU the phase expects. */
  readonly events: number[];
}

async function main(): Promise<void> {
  const d = makeDeployment({
    label: 'gateway-lb',
    vms: [
      { id: 1, name: 'cluster' },
      { id: 2, name: 'gateway' },
    ],
    services: [{ name: 'VehicleSpeed', provider: 'gateway', consumers: ['cluster'] }],
  });
  appendFileSync(d.configPath, GATEWAY_SECTION);
  const speedType = (await loadConfig(d.configPath)).protoRoot.lookupType(
    'sivshm.demo.VehicleSpeed',
  );
  const encode = (kph: number): Buffer =>
    Buffer.from(speedType.encode({ kph, odometer_m: 1, timestamp_ms: 1 }).finish());
  const capture = await startLiveCapture({
    filter: `udp port ${SD_PORT} or udp port ${GW_UDP} or udp port ${ECU_UDP}`,
    rawPcap,
  });
  const hostd = await startHostd(d);
  const instance = (priority: number): OfferedInstance => ({
    instanceId: 1,
    udpPort: ECU_UDP,
    ttl: 2,
    loadBalancing: { priority, weight: 10 },
  });
  const answer = () => ({ returnCode: 0, payload: Buffer.alloc(0) });
  const a = await RawSomeIpProvider.open('127.0.0.2', [instance(5)], answer);
  const b = await RawSomeIpProvider.open('127.0.0.3', [instance(1)], answer);
  a.startCyclicOffers(500);
  const gateway = await Gateway.start({
    config: d.configPath,
    vm: 'gateway',
    runDir: d.runDir,
    allowLoopbackEndpoints: true,
    sdTiming: TEST_SD_TIMING,
    log: (l) => note(`gateway: ${l}`),
  });
  const cluster = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
  try {
    await waitFor(() => gateway.importOffered('VehicleSpeed', 1), 'the import offered', 15_000);
    const svc = await cluster.consume('VehicleSpeed', { instance: 1, timeoutMs: 10_000 });
    const seen: number[] = [];
    const sub = svc.event<Speed>('speed').subscribe((e) => seen.push(e.kph));
    const subscribed = (ecu: RawSomeIpProvider): boolean => (ecu.subscribers.get(1)?.size ?? 0) > 0;
    /**
     * Once `ecu` holds the gateway's Subscribe, probes (kph `base`) until one reaches the VM —
     * the sivshm offer is made anew for each provider, and its channel and handshake may take
     * long on a busy machine — then sends three events (kph base+1...) and waits for them.
     * Probes are left out of the events reported.
     */
    const phase = async (ecu: RawSomeIpProvider, base: number, what: string): Promise<Phase> => {
      await waitFor(() => subscribed(ecu), `the gateway's Subscribe at ${what}`, 15_000, 10);
      seen.length = 0;
      await waitFor(
        () => {
          if (seen.includes(base)) return true;
          ecu.notify(1, encode(base));
          return false;
        },
        `a probe event of ${what} in the VM`,
        20_000,
        50,
      );
      seen.length = 0;
      for (let n = 1; n <= 3; n++) {
        ecu.notify(1, encode(base + n));
        await sleep(20);
      }
      await waitFor(
        () => seen.filter((k) => k > base).length >= 3,
        `three events of ${what} in the VM`,
        10_000,
        10,
      );
      await sleep(200);
      return {
        subscribedAtA: subscribed(a),
        subscribedAtB: subscribed(b),
        events: seen.filter((k) => k !== base),
      };
    };
    const aAlone = await phase(a, 100, 'A, the only provider');
    note('B starts offering at a better priority');
    b.startCyclicOffers(500);
    await waitFor(() => !subscribed(a), 'the StopSubscribe at A', 15_000, 10);
    const bAdded = await phase(b, 200, 'B, the better priority');
    // Events A still sends now are not from the bound provider: none may reach the VM.
    a.notify(1, encode(999));
    b.notify(1, encode(250)); // one of the bound provider's after it, so the VM's order shows
    await waitFor(() => seen.includes(250), "B's event after A's stray one", 5_000, 10);
    const strayFromA = seen.filter((k) => k === 999).length;
    note('B withdraws its offer');
    b.offer(undefined, true);
    b.forget(1);
    b.subscribers.clear(); // a StopOffer ends its subscriptions (no StopSubscribe follows)
    const bGone = await phase(a, 300, 'A again, after B went away');
    sub.unsubscribe();
    await capture.finish(`udp.port == ${SD_PORT} or udp.port == ${GW_UDP}`, pcap);
    process.stdout.write(
      JSON.stringify({
        pcap,
        log,
        phases: { aAlone, bAdded, bGone },
        strayFromA,
        counters: gateway.counters,
      }),
    );
  } finally {
    await cluster.close();
    await gateway.close();
    await a.close();
    await b.close();
    await hostd.stop();
    d.cleanup();
  }
}

runScenario('load-balancing scenario', main, log);
