// Doorbells reach only the channel's peer: hostd as its own OS process, the infotainment VM as
// another (forked provider-vm.ts), the cluster VM and a third VM in no channel in this process.
import { expect } from 'chai';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import { Node } from '../src/index.js';
import {
  makeDeployment,
  startHostd,
  startProviderVm,
  waitFor,
  type Child,
  type Deployment,
} from './support/deployment.js';

describe('Doorbell routing (hostd and three VMs)', function () {
  this.timeout(60_000);
  let d: Deployment;
  let hostd: Child | undefined;
  let provider: Child | undefined;
  const nodes: Node[] = [];

  beforeEach(async () => {
    d = makeDeployment({ extraVms: ['radio'] }); // radio takes part in no channel
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
    await provider?.stop();
    provider = undefined;
    await hostd?.stop();
    hostd = undefined;
    d.cleanup();
  });

  describe('Node.doorbellsReceived', () => {
    it('should stay 0 on a VM in no channel while a channel between two others streams', async () => {
      const radio = await Node.open({ config: d.configPath, vm: 'radio', runDir: d.runDir });
      nodes.push(radio);
      provider = await startProviderVm(d);
      const cluster = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
      nodes.push(cluster);
      const speed = await cluster.consume('VehicleSpeed', { instance: 1 });
      // 50 events at the provider's 10 ms period: the consumer parks between them, so the
      // provider rings it for (nearly) every one.
      const events = await firstValueFrom(
        speed.event('speed').pipe(take(50), toArray(), timeout(10_000)),
      );
      expect(events).to.have.length(50);
      await waitFor(() => cluster.doorbellsReceived >= 10, 'doorbells at the consumer', 5000);
      expect(radio.doorbellsReceived, 'doorbells at the VM outside the channel').to.equal(0);
    });
  });
});
