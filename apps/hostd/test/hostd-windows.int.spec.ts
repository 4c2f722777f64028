// Per-service window sizes and the allocator's fragmentation figures, through a hostd process.
import { expect } from 'chai';
import { WindowLayout } from '@sivshm/abi';
import { makeDeployment as makeTestDeployment } from '@sivshm/testing';
import {
  endHostdTest,
  SERVICE,
  VM,
  readStatus,
  runCliStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from './support/test-deployment.js';
import type { TestVm } from './support/test-vm.js';
import { granted, vmRoles } from './support/vm-roles.js';

/** VehicleSpeed with 16 KiB rings (a 48 KiB window); MediaControl with hostd's default. */
function sizedDeployment(): Deployment {
  return makeTestDeployment({
    label: 'hostd-windows',
    vms: [
      { id: VM.infotainment, name: 'infotainment' },
      { id: VM.cluster, name: 'cluster', limits: { windowBytes: '1MiB' } },
    ],
    services: [{ name: 'VehicleSpeed', ringDataSize: '16KiB' }, 'MediaControl'],
  });
}

describe('Hostd windows', function () {
  this.timeout(30_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const vms: TestVm[] = [];

  beforeEach(async () => {
    d = sizedDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    await endHostdTest(running, d, vms);
  });

  const { providerAndConsumer } = vmRoles(() => d, vms);

  it("should give each service's channels the window its ringDataSize sets, and report free extents as they split and coalesce", async () => {
    const { p, c } = await providerAndConsumer();
    const empty = await readStatus(d);
    expect(empty.region).to.include({ freeExtents: 1, largestFree: empty.region.dataSize });

    const speed = granted(await c.request(SERVICE.speed));
    const media = granted(await c.request(SERVICE.media));
    expect(Number(speed.grant.windowLength)).to.equal(WindowLayout.windowLength(16 * 1024));
    expect(Number(media.grant.windowLength)).to.equal(WindowLayout.windowLength(64 * 1024));
    await waitFor(() => p.providerGrants.length === 2, 'M6 for both channels');
    // The channel table tells both sides the ring size of each window.
    const both = await readStatus(d);
    const lengths = both.channels.map((ch) => ch.window.length).sort((x, y) => x - y);
    expect(lengths).to.deep.equal([48 * 1024, 144 * 1024]);
    expect(both.region.allocatedBytes).to.equal(192 * 1024);
    expect(both.region).to.include({ freeExtents: 1 });

    // Closing the first window leaves a hole before the second: two free extents.
    const first = speed.grant.windowOffset < media.grant.windowOffset ? speed : media;
    const second = first === speed ? media : speed;
    c.send({ kind: 'close', channelId: first.grant.channelId });
    await waitFor(async () => (await readStatus(d)).channels.length === 1, 'the first freed');
    const holed = await readStatus(d);
    expect(holed.region.freeExtents).to.equal(2);
    expect(holed.region.largestFree).to.equal(
      holed.region.dataSize - Number(first.grant.windowLength) - Number(second.grant.windowLength),
    );
    expect(await runCliStatus(d, [])).to.match(/largest extent [0-9.]+ [KM]iB in 2 extents/);

    // Closing the second merges hole, window and tail back into one extent.
    c.send({ kind: 'close', channelId: second.grant.channelId });
    await waitFor(async () => (await readStatus(d)).channels.length === 0, 'both freed');
    const whole = await readStatus(d);
    expect(whole.region).to.include({
      freeExtents: 1,
      largestFree: whole.region.dataSize,
      freeBytes: whole.region.dataSize,
    });
  });
});
