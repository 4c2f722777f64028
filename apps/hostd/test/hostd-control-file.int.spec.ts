// The read-only control file (docs/protocol.md §10.4) through a hostd process: hostd keeps the
// region header and channel table in `<region>.control` beside the region, decides on that copy
// (no VM can write it once QEMU maps it read-only), mirrors it into the region for host tools,
// and removes it on stop.
import { expect } from 'chai';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ControlFileLayout } from '@sivshm/abi';
import {
  ChannelTableReader,
  controlPathFor,
  readControlHeader,
  readRegionHeader,
} from '@sivshm/transport-ivshmem';
import {
  SERVICE,
  endHostdTest,
  makeDeployment,
  readStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from './support/test-deployment.js';
import type { TestVm } from './support/test-vm.js';
import { vmRoles } from './support/vm-roles.js';

describe('Hostd control file', function () {
  this.timeout(30_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const vms: TestVm[] = [];
  const { providerAndConsumer } = vmRoles(() => d, vms);

  beforeEach(async () => {
    d = makeDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    await endHostdTest(running, d, vms);
  });

  const control = (): Uint8Array => new Uint8Array(readFileSync(controlPathFor(d.regionPath)));
  const region = (): Uint8Array => new Uint8Array(readFileSync(d.regionPath));

  it('should keep the header and table in the control file, mirror them into the region and decide on its own copy', async () => {
    const path = controlPathFor(d.regionPath);
    expect(statSync(path).mode & 0o777, 'readable by QEMUs, writable by hostd only').to.equal(
      0o644,
    );
    const h = readControlHeader(control());
    expect(control().byteLength).to.equal(ControlFileLayout.sizeFor(h.dataOffset));
    expect(h.epoch).to.equal(readRegionHeader(region()).epoch);
    expect(h.regionSize).to.equal(statSync(d.regionPath).size);

    const { p, c } = await providerAndConsumer();
    const out = await c.request(SERVICE.speed);
    if (out.kind !== 'granted') throw new Error(`${out.reason}: ${out.detail}`);
    await waitFor(() => p.providerGrants.length === 1, 'M6');
    const id = out.grant.channelId;
    const inControl = new ChannelTableReader(control(), h).find(id);
    expect(inControl?.entry).to.include({
      state: 'ACTIVE',
      offset: Number(out.grant.windowOffset),
    });
    expect(new ChannelTableReader(region(), h).find(id)?.entry).to.deep.equal(inControl?.entry);

    c.send({ kind: 'close', channelId: id });
    await waitFor(async () => (await readStatus(d)).channels.length === 0, 'the channel freed');
    expect(new ChannelTableReader(control(), h).find(id)).to.equal(undefined);
    expect(new ChannelTableReader(region(), h).find(id)).to.equal(undefined);

    expect(await hostd!.stop()).to.equal(0);
    hostd = undefined;
    expect(existsSync(path), 'removed on stop').to.equal(false);
  });
});
