// The runtime's side of revocation (docs/security.md, revocation): hostd as its own OS process,
// the provider VM as another (forked provider-vm.ts), this process as the cluster VM. Both ends
// answer hostd's REVOKEs through their devices, so every acknowledgement carries a receipt that
// verifies and the window is freed, never quarantined.
import { expect } from 'chai';
import { Node } from '../src/index.js';
import {
  makeDeployment,
  readStatus,
  startHostd,
  startProviderVm,
  waitFor,
  type Child,
  type Deployment,
} from './support/deployment.js';

interface ReceiptStatus {
  readonly quarantinedWindows: number;
  readonly region: { freeBytes: number };
  readonly vms: { name: string; revokeReceiptsRefused: number }[];
  readonly channels: unknown[];
}

describe('Node revocation (hostd and two VM processes)', function () {
  this.timeout(60_000);
  let d: Deployment;
  let hostd: Child | undefined;
  let provider: Child | undefined;
  let node: Node | undefined;

  beforeEach(async () => {
    d = makeDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    await node?.close().catch(() => undefined);
    node = undefined;
    await provider?.stop();
    provider = undefined;
    await hostd?.stop();
    hostd = undefined;
    d.cleanup();
  });

  it("should acknowledge each REVOKE with its device's receipt, so hostd frees the window", async () => {
    provider = await startProviderVm(d);
    const status = async () => (await readStatus(d)) as unknown as ReceiptStatus;
    const before = (await status()).region.freeBytes;
    node = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
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
