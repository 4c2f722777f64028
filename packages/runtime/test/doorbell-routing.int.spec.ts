// Doorbells reach only the channel's peer: hostd as its own OS process, the infotainment VM as
// another (forked provider-vm.ts), the cluster VM and a third VM in no channel in this process.
import { expect } from 'chai';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import { makeDeployment, setUpEachTest, waitFor } from './support/deployment.js';

describe('Doorbell routing (hostd and three VMs)', function () {
  this.timeout(60_000);
  // radio takes part in no channel
  const rig = setUpEachTest({ deployment: () => makeDeployment({ extraVms: ['radio'] }) });

  describe('Node.doorbellsReceived', () => {
    it('should stay 0 on a VM in no channel while a channel between two others streams', async () => {
      const radio = await rig.openNode({ vm: 'radio' });
      await rig.startProvider();
      const cluster = await rig.openNode();
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
