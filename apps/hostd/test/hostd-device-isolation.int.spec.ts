// isolation: device in emulated mode, through a hostd process and three VM links: a channel of
// VehicleSpeed (device) gets memory of its own that only its two VMs are told of; MediaControl
// (region) beside it keeps its window in the shared region (issue 18, docs/protocol.md §10).
import { expect } from 'chai';
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import {
  readChannelDeviceHeader,
  RingPageLayout,
  windowLayout,
  type ChannelEntry,
} from '@sivshm/abi';
import { decodeGrant } from '@sivshm/core';
import { makeDeployment as makeTestDeployment } from '@sivshm/testing';
import { ChannelTableReader, controlPathFor, readControlHeader } from '@sivshm/transport-ivshmem';
import {
  endHostdTest,
  GENEROUS_LIMITS,
  readStatus,
  SERVICE,
  startHostd,
  VM,
  waitFor,
  type Deployment,
  type HostdProcess,
  type StatusLike,
} from './support/test-deployment.js';
import type { TestVm } from './support/test-vm.js';
import { granted, vmRoles } from './support/vm-roles.js';

const MARKER = Buffer.from('pair-only marker 7f3a9c');

/** The channel's entry in the table hostd keeps (its control file). */
function deviceChannelEntry(d: Deployment, channelId: bigint): ChannelEntry {
  const control = new Uint8Array(readFileSync(controlPathFor(d.regionPath)));
  const table = new ChannelTableReader(control, readControlHeader(control));
  const found = table.find(channelId);
  expect(found, 'the device channel has a table entry').not.to.equal(undefined);
  return found!.entry;
}

function deviceDeployment(): Deployment {
  return makeTestDeployment({
    label: 'hostd-device',
    vms: [
      { id: VM.infotainment, name: 'infotainment' },
      { id: VM.cluster, name: 'cluster', limits: GENEROUS_LIMITS },
      { id: VM.rogue, name: 'rogue', limits: GENEROUS_LIMITS },
    ],
    services: [
      { name: 'VehicleSpeed', consumers: ['cluster'], isolation: 'device' },
      { name: 'MediaControl', consumers: ['cluster', 'rogue'] },
    ],
  });
}

describe('Hostd device channels (emulated mode)', function () {
  this.timeout(30_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const vms: TestVm[] = [];

  beforeEach(async () => {
    d = deviceDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    await endHostdTest(running, d, vms);
  });

  const { providerAndConsumer, consumer } = vmRoles(() => d, vms);

  it("should give a device channel memory of its own, named to its two VMs only, never on a third VM's link; status reads its rings from it", async () => {
    const { p, c } = await providerAndConsumer();
    const r = await consumer('rogue');
    const speed = granted(await c.request(SERVICE.speed));
    await waitFor(() => p.grantFrames.length === 1, 'M6');

    const token = decodeGrant(speed.grant.grantToken);
    expect(token.ok && token.token.target, 'the grant names the device').to.equal('device');
    expect(token.ok && token.token.windowOffset).to.equal(4096n);
    const hex = speed.grant.channelId.toString(16).padStart(16, '0');
    const file = path.join(d.runDir, 'devices', `${hex}.chan`);
    expect(c.grantFrames[0]!.channelDevice).to.equal(file);
    expect(p.grantFrames[0]!.channelDevice).to.equal(file);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const bytes = readFileSync(file);
    const header = readChannelDeviceHeader(bytes);
    expect(header).to.include({
      channelId: speed.grant.channelId,
      consumerVm: VM.cluster,
      providerVm: VM.infotainment,
      service: SERVICE.speed,
      windowLength: windowLayout(4096).windowLength(64 * 1024),
      deviceSize: 256 * 1024,
    });

    // A region channel beside it: the third VM's own grant names the region, no device.
    const media = granted(await r.request(SERVICE.media));
    const mediaToken = decodeGrant(media.grant.grantToken);
    expect(mediaToken.ok && mediaToken.token).not.to.have.property('target');

    // The pair writes through its mapping: the bytes land in the device file, never the region.
    const window = speed.file.mapWindow(speed.grant.channelId);
    const dataArea = windowLayout(4096).dataArea;
    (window.bulk ?? window.shared).set(MARKER, dataArea);
    expect(readFileSync(file).includes(MARKER)).to.equal(true);
    expect(readFileSync(d.regionPath).includes(MARKER)).to.equal(false);
    // What the device channel still holds in the region (docs/security.md §12): a table entry
    // and the region window reserved for it, which no grant names and which stays all zero.
    const regionEntry = deviceChannelEntry(d, speed.grant.channelId);
    expect(regionEntry.length).to.equal(windowLayout(4096).windowLength(64 * 1024));
    const reserved = readFileSync(d.regionPath).subarray(
      regionEntry.offset,
      regionEntry.offset + regionEntry.length,
    );
    expect(
      reserved.every((b) => b === 0),
      'the reserved region window stays zero',
    ).to.equal(true);

    // Nothing the third VM's link received names the device or its file.
    expect(r.received.some((m) => 'channelDevice' in m)).to.equal(false);
    const seen = JSON.stringify(r.received, (_, v: unknown) =>
      v instanceof Uint8Array
        ? Buffer.from(v).toString('latin1')
        : typeof v === 'bigint'
          ? `${v}`
          : v,
    );
    expect(seen.includes(hex)).to.equal(false);
    expect(seen.includes('devices')).to.equal(false);
    expect(r.grantFrames.map((f) => f.channelDevice)).to.deep.equal([undefined]);
    // A producer index in the device's c2p ring page (one granule in): status reads it there.
    const fd = openSync(file, 'r+');
    const index = Buffer.alloc(4);
    index.writeUInt32LE(0x1234);
    writeSync(
      fd,
      index,
      0,
      4,
      4096 + windowLayout(4096).producerPage + RingPageLayout.producer.index,
    );
    closeSync(fd);
    // Status lists the device (plugged at both ends) and its rings, read from the device.
    const status = (await readStatus(d)) as StatusLike & { channelDevices?: unknown[] };
    expect(status.channels).to.have.length(2);
    const id = `0x${speed.grant.channelId.toString(16)}`;
    expect(status.channelDevices).to.deep.equal([
      {
        channelId: id,
        service: SERVICE.speed,
        instance: 1,
        size: 256 * 1024,
        vms: [
          { vm: VM.cluster, state: 'plugged' },
          { vm: VM.infotainment, state: 'plugged' },
        ],
      },
    ]);
    const rings = status.channels.find((c) => c.channelId === id)?.rings;
    expect(rings?.c2p.producedBytes, 'the c2p producer index, from the device').to.equal(0x1234);
    expect(rings?.p2c.producedBytes).to.equal(0);
  });

  it('should zero and drop the memory once both receipts verified, and keep it while a holder has not proven its revoke', async () => {
    const { p, c } = await providerAndConsumer();
    const first = granted(await c.request(SERVICE.speed));
    await waitFor(() => p.grantFrames.length === 1, 'M6');
    const firstFile = c.grantFrames[0]!.channelDevice!;
    const held = openSync(firstFile, 'r'); // to look at the memory after its name is gone
    try {
      c.send({ kind: 'close', channelId: first.grant.channelId });
      await waitFor(() => !existsSync(firstFile), 'the device file removed');
      expect(fstatSync(held).size, 'the memory was dropped').to.equal(0);
    } finally {
      closeSync(held);
    }
    await waitFor(async () => (await readStatus(d)).channels.length === 0, 'the channel freed');

    // A consumer that acknowledges without a receipt: the memory stays until its link drops.
    c.revokeBehaviour = 'skip-no-receipt';
    const second = granted(await c.request(SERVICE.speed));
    await waitFor(() => p.grantFrames.length === 2, 'the second M6');
    const secondFile = c.grantFrames[1]!.channelDevice!;
    expect(secondFile).not.to.equal(firstFile);
    c.send({ kind: 'close', channelId: second.grant.channelId });
    await waitFor(
      async () => (await readStatus(d)).region.quarantinedBytes > 0,
      'the channel quarantined',
    );
    expect(existsSync(secondFile), 'kept while the consumer may map it').to.equal(true);
    c.close();
    await waitFor(() => !existsSync(secondFile), 'removed once the holder is gone');
  });
});
