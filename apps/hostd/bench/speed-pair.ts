// The two VMs every hostd benchmark starts from: the cluster VM in this process (a TestVm
// enrolled to request VehicleSpeed) and the infotainment VM as its own process, offering.
import {
  SERVICE,
  readStatus,
  startProviderProcess,
  waitFor,
  type Deployment,
  type ProviderProcess,
} from '../test/support/test-deployment.js';
import { TestVm } from '../test/support/test-vm.js';

/** Connects and enrols the consumer, starts the provider, resolves once both offers are in. */
export async function speedPair(
  d: Deployment,
): Promise<{ consumer: TestVm; provider: ProviderProcess }> {
  const consumer = await TestVm.connect(d.socket('cluster'));
  await consumer.enrol({
    offers: [],
    requests: [
      { service: SERVICE.speed, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0xfffe },
    ],
  });
  const provider = await startProviderProcess(d);
  await waitFor(async () => (await readStatus(d)).services.length === 2, 'offers', 15_000);
  return { consumer, provider };
}
