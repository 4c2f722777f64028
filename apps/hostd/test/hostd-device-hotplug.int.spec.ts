// isolation: device in qemu mode (issue 18): hostd --qemu hot-plugs a device channel's memory
// into the QEMUs of its two VMs through their QMP sockets. Real QEMU processes without a guest
// OS stand in for the VMs' QEMUs (the VMs' control links are test links), so nothing answers
// ACPI: every unplug meets an uncooperative guest. The cooperative unplug is the guest tier's.
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, resolveGrantKey } from '@sivshm/core';
import { makeDeployment as makeTestDeployment } from '@sivshm/testing';
import { channelDeviceIds } from '../src/qmp/ivshmem-hotplug.js';
import { QmpClient } from '../src/qmp/qmp-client.js';
import { qemuAvailable, startQmpQemu, type QmpQemu } from './support/qmp-qemu.js';
import {
  endHostdTest,
  GENEROUS_LIMITS,
  OFFER_ALL,
  readStatus,
  REQUEST_ALL,
  SERVICE,
  startHostd,
  VM,
  waitFor,
  type Deployment,
  type HostdProcess,
  type StatusLike,
} from './support/test-deployment.js';
import { TestVm } from './support/test-vm.js';
import { granted } from './support/vm-roles.js';

type Name = keyof typeof VM;
const NAMES: readonly Name[] = ['infotainment', 'cluster', 'rogue'];

describe('Hostd device channels (qemu mode, real QEMUs without guests)', function () {
  this.timeout(90_000);
  let dir: string;
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const qemu = {} as Record<Name, QmpQemu>;
  const monitor = {} as Record<Name, QmpClient>;
  const vms: TestVm[] = [];

  before(function () {
    if (!qemuAvailable()) this.skip();
  });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-hp-'));
    for (const name of NAMES) {
      qemu[name] = await startQmpQemu(dir, name);
      monitor[name] = await QmpClient.connect(qemu[name].testSocketPath, { label: name });
    }
    d = makeTestDeployment({
      label: 'hostd-hotplug',
      vms: NAMES.map((name) => ({
        id: VM[name],
        name,
        qmp: qemu[name].socketPath,
        ...(name === 'infotainment' ? {} : { limits: GENEROUS_LIMITS }),
      })),
      services: [
        { name: 'VehicleSpeed', consumers: ['cluster'], isolation: 'device' },
        { name: 'MediaControl', consumers: ['cluster', 'rogue'] },
      ],
    });
    hostd = await startHostd(d, ['--qemu']);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    try {
      await endHostdTest(running, d, vms);
    } finally {
      for (const name of NAMES) {
        monitor[name]?.close();
        await qemu[name]?.stop();
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A test link as VM `name`, enrolled, its device holding the VM's key (qemu: not sent). */
  async function vm(name: Name, rights: typeof OFFER_ALL | typeof REQUEST_ALL): Promise<TestVm> {
    const config = await loadConfig(d.configPath);
    const key = await resolveGrantKey(config.vms.find((v) => v.name === name)!);
    const link = await TestVm.connect(d.socket(name), key);
    vms.push(link);
    await link.enrol(rights);
    return link;
  }

  async function provider(): Promise<TestVm> {
    const p = await vm('infotainment', OFFER_ALL);
    p.provide();
    p.offer(SERVICE.speed, 1);
    p.offer(SERVICE.media, 1);
    await waitFor(async () => (await readStatus(d)).services.length === 2, 'both offers');
    return p;
  }

  async function pciIds(name: Name): Promise<string[]> {
    const buses = (await monitor[name].execute('query-pci')) as {
      devices: { qdev_id: string }[];
    }[];
    return buses.flatMap((b) => b.devices.map((x) => x.qdev_id));
  }

  async function objectIds(name: Name): Promise<string[]> {
    const list = (await monitor[name].execute('qom-list', { path: '/objects' })) as {
      name: string;
    }[];
    return list.map((o) => o.name);
  }

  const logged = (event: string): Record<string, unknown>[] =>
    hostd!.logs.filter((l) => l['event'] === event);

  it("should hot-plug a device channel into its two VMs' QEMUs only, before the consumer's grant leaves", async () => {
    const p = await provider();
    const c = await vm('cluster', REQUEST_ALL);
    const r = await vm('rogue', REQUEST_ALL);
    const speed = granted(await c.request(SERVICE.speed));
    // M4 reached the consumer: the device is in both QEMUs already.
    const ids = channelDeviceIds(speed.grant.channelId);
    for (const name of ['infotainment', 'cluster'] as const) {
      expect(await pciIds(name), name).to.include(ids.device);
      expect(qemu[name].mappedFiles().some((f) => f.includes(ids.memory.slice(11)))).to.equal(true);
    }
    expect(await pciIds('rogue')).not.to.include(ids.device);
    expect(await objectIds('rogue')).not.to.include(ids.memory);
    expect(qemu.rogue.mappedFiles().filter((f) => f.includes('/devices/'))).to.deep.equal([]);
    // The backing file's name is gone once both QEMUs hold it: nothing else can open it.
    const hex = speed.grant.channelId.toString(16).padStart(16, '0');
    expect(existsSync(path.join(d.runDir, 'devices', `${hex}.mem`))).to.equal(false);
    const plugged = logged('channel-device-plugged');
    expect(plugged).to.have.length(1);
    expect(plugged[0]!['ms']).to.be.a('number');
    // No channel_device path on any link in qemu mode; the region service is untouched.
    expect(c.grantFrames.map((f) => f.channelDevice)).to.deep.equal([undefined]);
    await waitFor(() => p.grantFrames.length === 1, 'M6');
    const media = granted(await r.request(SERVICE.media));
    expect(media.grant.channelId).not.to.equal(speed.grant.channelId);
    expect(await pciIds('rogue')).not.to.include(channelDeviceIds(media.grant.channelId).device);
  });

  it('should unplug on revoke, leave the device stuck in guests that do not release it (never reset), and free it once they do', async () => {
    const p = await provider();
    const c = await vm('cluster', REQUEST_ALL);
    const speed = granted(await c.request(SERVICE.speed));
    await waitFor(() => p.providerGrants.length === 1, 'M6');
    const ids = channelDeviceIds(speed.grant.channelId);
    const events: string[] = [];
    for (const name of ['infotainment', 'cluster'] as const) {
      monitor[name].onEvent((e) => events.push(`${name} ${e.event}`));
    }
    c.send({ kind: 'close', channelId: speed.grant.channelId });
    await waitFor(() => logged('device-unplug-stuck').length === 2, 'both unplugs stuck', 20_000);
    expect(logged('device-unplug-stuck').map((l) => l['vm'])).to.have.members([
      VM.infotainment,
      VM.cluster,
    ]);
    for (const name of ['infotainment', 'cluster'] as const) {
      expect(await monitor[name].execute('query-status'), name).to.include({ status: 'running' });
      expect(await objectIds(name), 'the memory stays with that QEMU').to.include(ids.memory);
    }
    expect(logged('channel-device-freed')).to.deep.equal([]);
    const st = (await readStatus(d)) as StatusLike & {
      channelDevices?: { channelId: string; vms: { vm: number; state: string }[] }[];
    };
    expect(st.channelDevices?.map((x) => x.vms.map((v) => v.state))).to.deep.equal([
      ['stuck', 'stuck'],
    ]);
    // QEMU tells every monitor of a reset, a stop or a power-down: hostd did none of them.
    expect(events.filter((e) => /RESET|STOP|POWERDOWN|SHUTDOWN/.test(e))).to.deep.equal([]);

    // Stand-in for the guests finally releasing the device: with no OS, only a reset completes
    // the pending ACPI eject. The test does it; hostd never would.
    for (const name of ['infotainment', 'cluster'] as const) {
      await monitor[name].execute('system_reset');
    }
    await waitFor(() => logged('channel-device-freed').length === 1, 'the memory freed', 20_000);
    expect(logged('device-unplugged-late')).to.have.length(2);
    for (const name of ['infotainment', 'cluster'] as const) {
      expect(await objectIds(name), name).not.to.include(ids.memory);
    }
  });

  it('should unplug at start the channel devices a previous hostd left in the QEMUs, never forcing them', async () => {
    await hostd!.stop();
    // What a killed hostd leaves: a channel's memory and device still in a VM's QEMU.
    const ids = channelDeviceIds(0x5a1e000000000001n);
    const file = path.join(dir, 'stale.mem');
    writeFileSync(file, Buffer.alloc(64 * 1024), { mode: 0o600 });
    await monitor.cluster.execute('object-add', {
      'qom-type': 'memory-backend-file',
      id: ids.memory,
      'mem-path': file,
      size: 64 * 1024,
      share: true,
    });
    await monitor.cluster.execute('device_add', {
      driver: 'ivshmem-plain',
      id: ids.device,
      memdev: ids.memory,
    });
    hostd = await startHostd(d, ['--qemu']);
    await waitFor(() => logged('stale-channel-device').length === 1, 'the stale device found');
    expect(logged('stale-channel-device')[0]).to.include({
      vm: VM.cluster,
      channel: '0x5a1e000000000001',
    });
    await waitFor(() => logged('device-unplug-stuck').length === 1, 'its unplug stuck', 20_000);
    expect(await objectIds('cluster'), 'not forced: still there').to.include(ids.memory);
    await monitor.cluster.execute('system_reset'); // the test's stand-in for the guest
    await waitFor(() => logged('device-unplugged-late').length === 1, 'released', 20_000);
    expect(await objectIds('cluster')).not.to.include(ids.memory);
    expect(await objectIds('infotainment')).not.to.include(ids.memory);
  });
});
