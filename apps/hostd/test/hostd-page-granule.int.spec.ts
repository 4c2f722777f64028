// A region laid out for a 16 KiB page granule (services.yaml region.pageGranule), through a
// hostd process: the header says layout version 2 and names the granule, and every window the
// broker grants starts on a granule and has whole-granule control pages (docs/protocol.md).
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { RegionHeaderLayout, windowLayout } from '@sivshm/abi';
import { makeDeployment as makeTestDeployment } from '@sivshm/testing';
import {
  endHostdTest,
  SERVICE,
  VM,
  readStatus,
  startHostd,
  type Deployment,
  type HostdProcess,
} from './support/test-deployment.js';
import type { TestVm } from './support/test-vm.js';
import { granted, vmRoles } from './support/vm-roles.js';

const GRANULE = 16384;

describe('Hostd page granule', function () {
  this.timeout(30_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const vms: TestVm[] = [];
  const { providerAndConsumer } = vmRoles(() => d, vms);

  beforeEach(async () => {
    d = makeTestDeployment({
      label: 'hostd-granule',
      pageGranule: GRANULE,
      vms: [
        { id: VM.infotainment, name: 'infotainment' },
        // Six channels at once, more than its two consumed services imply: a burst to match
        // (the budget hostd derives from the config is not what this test is about).
        { id: VM.cluster, name: 'cluster', limits: { burst: 8 } },
      ],
      services: [{ name: 'VehicleSpeed', ringDataSize: '16KiB' }, 'MediaControl'],
    });
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    await endHostdTest(running, d, vms);
  });

  it('should write a version 2 header naming the granule and grant only granule-aligned windows', async () => {
    const header = new DataView(readFileSync(d.regionPath).buffer, 0, RegionHeaderLayout.size);
    const O = RegionHeaderLayout.off;
    expect(header.getUint32(O.layoutVersion, true)).to.equal(2);
    expect(header.getUint32(O.pageGranule, true)).to.equal(GRANULE);
    expect(Number(header.getBigUint64(O.dataOffset, true)) % GRANULE).to.equal(0);

    const { c } = await providerAndConsumer();

    const layout = windowLayout(GRANULE);
    const windows = [];
    for (let i = 0; i < 3; i++) {
      const speed = granted(await c.request(SERVICE.speed));
      const media = granted(await c.request(SERVICE.media));
      expect(Number(speed.grant.windowLength)).to.equal(layout.windowLength(16 * 1024));
      expect(Number(media.grant.windowLength)).to.equal(layout.windowLength(64 * 1024));
      windows.push(speed.grant, media.grant);
    }
    for (const w of windows) expect(Number(w.windowOffset) % GRANULE, 'window offset').to.equal(0);
    // the channel table names the same ring sizes; status reads the rings at the granule's pages
    const status = await readStatus(d);
    expect(status.channels.map((ch) => ch.window.length).sort((x, y) => x - y)).to.deep.equal(
      windows.map((w) => Number(w.windowLength)).sort((x, y) => x - y),
    );
  });
});
