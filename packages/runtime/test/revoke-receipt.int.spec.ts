// The runtime's side of revocation (docs/security.md, revocation): hostd as its own OS process,
// the provider VM as another (forked provider-vm.ts), this process as the cluster VM. Both ends
// answer hostd's REVOKEs through their devices, so every acknowledgement carries a receipt that
// verifies and the window is freed, never quarantined.
import { expect } from 'chai';
import { readStatus, setUpEachTest, waitFor } from './support/deployment.js';

interface ReceiptStatus {
  readonly quarantinedWindows: number;
  readonly region: { freeBytes: number };
  readonly vms: { name: string; revokeReceiptsRefused: number }[];
  readonly channels: unknown[];
}

describe('Node revocation (hostd and two VM processes)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest();

  it("should acknowledge each REVOKE with its device's receipt, so hostd frees the window", async () => {
    await rig.startProvider();
    const status = async () => (await readStatus(rig.d)) as unknown as ReceiptStatus;
    const before = (await status()).region.freeBytes;
    const node = await rig.openNode();
    const speed = await node.consume('VehicleSpeed', { instance: 1 });
    expect((await status()).region.freeBytes).to.be.below(before);
    // The consumer stays connected: both VMs get a REVOKE and both must acknowledge it.
    await speed.close();
    await waitFor(async () => {
      const s = await status();
      return s.channels.length === 0 && s.region.freeBytes === before;
    }, 'the window freed');
    const s = await status();
    expect(s.quarantinedWindows).to.equal(0);
    for (const v of s.vms) expect(v.revokeReceiptsRefused, v.name).to.equal(0);
  });
});
