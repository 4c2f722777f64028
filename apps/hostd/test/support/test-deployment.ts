// hostd's integration-test deployment: three VMs (rogue with tight limits) and two services of
// the example, on @sivshm/testing's deployment harness; and the VM processes hostd's tests fork.
import { type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import {
  forkChild,
  makeDeployment as makeTestDeployment,
  siblingEntry,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';
import type { TestVm } from './test-vm.js';

export {
  readStatus,
  runCliStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
  type StatusLike,
} from '@sivshm/testing';

/** Test VMs by name → id. */
export const VM = { infotainment: 1, cluster: 2, rogue: 3 } as const;
export const SERVICE = { speed: 0x1234, media: 0x1235 } as const;

/** Enrolment rights: offer both test services (instance 1). */
export const OFFER_ALL = {
  offers: [
    { service: SERVICE.speed, instanceLo: 1, instanceHi: 1 },
    { service: SERVICE.media, instanceLo: 1, instanceHi: 1 },
  ],
  requests: [],
};
/** Enrolment rights: request both test services (instance 1, every method). */
export const REQUEST_ALL = {
  offers: [],
  requests: [
    { service: SERVICE.speed, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0xfffe },
    { service: SERVICE.media, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0xfffe },
  ],
};

/** rogue's handshake budget and quotas: the tight limits the adversarial tests run into. */
export const ROGUE_LIMITS = {
  handshakesPerSecond: 20,
  burst: 5,
  pendingHandshakes: 3,
  windowBytes: '600KiB',
} as const;

/** cluster's handshake budget and quotas: generous, so the tests' own traffic never meets them. */
export const GENEROUS_LIMITS = {
  handshakesPerSecond: 1000,
  burst: 100,
  pendingHandshakes: 8,
  windowBytes: '3MiB',
} as const;

/** Three VMs; rogue has tight limits (4 windows of quota, 3 pending); cluster generous ones. */
export function makeDeployment(): Deployment {
  return makeTestDeployment({
    label: 'hostd',
    vms: [
      { id: VM.infotainment, name: 'infotainment' },
      { id: VM.cluster, name: 'cluster', limits: GENEROUS_LIMITS },
      { id: VM.rogue, name: 'rogue', limits: ROGUE_LIMITS },
    ],
    services: ['VehicleSpeed', { name: 'MediaControl', consumers: ['cluster', 'rogue'] }],
  });
}

/**
 * The end of a test that started hostd (`running`) on `d`: `closeFirst` ends what else the test
 * started, the VM links in `vms` close, hostd stops on SIGTERM and must exit 0. Whatever failed
 * on the way, hostd is killed and the deployment removed, so no process, socket or region
 * outlives the test.
 */
export async function endHostdTest(
  running: HostdProcess | undefined,
  d: Deployment,
  vms: TestVm[],
  closeFirst: () => void | Promise<void> = () => undefined,
): Promise<void> {
  let code: number | string | undefined;
  try {
    await closeFirst();
    for (const vm of vms.splice(0)) vm.close();
    code = await running?.stop();
  } finally {
    running?.kill();
    d.cleanup();
  }
  if (running !== undefined) expect(code, 'hostd exit code after SIGTERM').to.equal(0);
}

/** A provider VM in its own OS process (support/provider-process.ts). */
export interface ProviderProcess {
  readonly child: ChildProcess;
  readonly grants: bigint[];
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

type ProviderMessage = { event?: string; channelId?: string };

/** Forks a provider VM on `d`'s infotainment socket and waits until it is ready. */
export async function startProviderProcess(d: Deployment): Promise<ProviderProcess> {
  const p = await forkChild<ProviderMessage>({
    entry: siblingEntry(import.meta.url, 'provider-process'),
    args: [d.socket('infotainment')],
    what: 'the provider process (enrol and offer)',
    ready: (ms) => ms.some((m) => m.event === 'ready'),
  });
  return {
    child: p.child,
    get grants() {
      return p.messages.filter((m) => m.event === 'granted').map((m) => BigInt(m.channelId!));
    },
    exited: p.exited,
    stop: () => p.stop(),
  };
}

/** What a flood process (support/flood-process.ts) reports when it is done. */
export interface FloodReport {
  readonly total: number;
  readonly sent: number;
  readonly sendMs: number;
  /** CPU time the flooding process spent while it sent, ms. */
  readonly cpuMs: number;
  readonly answered: number;
  readonly reasons: Record<string, number>;
}

/** A flooding VM in its own OS process: `start()` begins the flood, `done` resolves at its end. */
export interface FloodProcess {
  readonly total: number;
  start(): void;
  readonly done: Promise<FloodReport>;
  kill(): void;
}

type FloodMessage = { event?: string; total?: number } & FloodReport;

/**
 * Forks a VM on `vm`'s socket that will send `rate` validly signed M1s per second for `ms`
 * milliseconds once started; resolves when it has enrolled and signed them all (at most 60 s).
 */
export async function startFloodProcess(
  d: Deployment,
  vm: keyof typeof VM,
  service: number,
  rate: number,
  ms: number,
): Promise<FloodProcess> {
  const f = await forkChild<FloodMessage>({
    entry: siblingEntry(import.meta.url, 'flood-process'),
    args: [d.socket(vm), String(service), String(rate), String(ms)],
    what: 'the flood process (sign its M1s)',
    ready: (m) => m.some((x) => x.event === 'ready'),
    timeoutMs: 60_000,
    graceful: (c) => c.kill('SIGKILL'),
  });
  const done = new Promise<FloodReport>((resolve, reject) => {
    f.child.on('message', (m: FloodMessage) => {
      if (m.event === 'done') resolve(m);
    });
    void f.exited.then(() => reject(new Error('the flood process exited before reporting')));
  });
  done.catch(() => undefined); // observed by the caller when it awaits
  return {
    total: f.messages.find((m) => m.event === 'ready')!.total!,
    start: () => void f.child.send({ cmd: 'go' }),
    done,
    kill: () => void f.stop(),
  };
}
