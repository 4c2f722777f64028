// The VM roles most hostd specs play by hand: an enrolled provider offering both example
// services, enrolled consumers, and a guard that a request was granted.
import type { VM } from './test-deployment.js';
import {
  OFFER_ALL,
  readStatus,
  REQUEST_ALL,
  SERVICE,
  waitFor,
  type Deployment,
} from './test-deployment.js';
import { TestVm, type RequestOutcome } from './test-vm.js';

export interface VmRoles {
  /** A link to hostd as VM `name`, closed by the spec through `opened`. */
  connect(name: keyof typeof VM): Promise<TestVm>;
  /** infotainment, enrolled, offering VehicleSpeed and MediaControl (both seen by hostd). */
  provider(): Promise<TestVm>;
  /** `name`, enrolled with every request right. */
  consumer(name?: 'cluster' | 'rogue'): Promise<TestVm>;
  /** provider() and consumer('cluster'). */
  providerAndConsumer(): Promise<{ p: TestVm; c: TestVm }>;
}

/** Roles on the deployment `d()` of the current test; every link made is pushed to `opened`. */
export function vmRoles(d: () => Deployment, opened: TestVm[]): VmRoles {
  const connect = async (name: keyof typeof VM): Promise<TestVm> => {
    const vm = await TestVm.connect(d().socket(name));
    opened.push(vm);
    return vm;
  };
  const provider = async (): Promise<TestVm> => {
    const p = await connect('infotainment');
    await p.enrol(OFFER_ALL);
    p.provide();
    p.offer(SERVICE.speed, 1);
    p.offer(SERVICE.media, 1);
    await waitFor(async () => (await readStatus(d())).services.length === 2, 'both offers');
    return p;
  };
  const consumer = async (name: 'cluster' | 'rogue' = 'cluster'): Promise<TestVm> => {
    const c = await connect(name);
    await c.enrol(REQUEST_ALL);
    return c;
  };
  return {
    connect,
    provider,
    consumer,
    providerAndConsumer: async () => ({ p: await provider(), c: await consumer() }),
  };
}

/** The outcome as a grant, or an error naming the refusal. */
export function granted(o: RequestOutcome): Extract<RequestOutcome, { kind: 'granted' }> {
  if (o.kind !== 'granted') throw new Error(`expected a grant, got ${o.reason}: ${o.detail}`);
  return o;
}
