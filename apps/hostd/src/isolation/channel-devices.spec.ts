import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readChannelDeviceHeader, windowLayout } from '@sivshm/abi';
import { parseConfig, type BrokerChannel, type ServiceConfig } from '@sivshm/core';
import { servicesYaml, waitFor } from '@sivshm/testing';
import { HostdError } from '../errors/hostd-error.js';
import { JsonLogger } from '../log/logger.js';
import { QmpConnections } from '../qmp/qmp-connections.js';
import { ChannelDevices } from './channel-devices.js';

const WINDOW = BigInt(windowLayout(4096).windowLength(64 * 1024));

function config(qmp: Record<string, string> = {}): ServiceConfig {
  const text = servicesYaml({
    region: { path: '/dev/shm/sivshm-channel-devices-spec' },
    vms: ['infotainment', 'cluster', 'rogue'].map((name, i) => ({
      id: i + 1,
      name,
      ...(qmp[name] === undefined ? {} : { qmp: qmp[name] }),
    })),
    services: [
      { name: 'VehicleSpeed', consumers: ['cluster'], isolation: 'device' },
      { name: 'MediaControl', consumers: ['cluster', 'rogue'] },
    ],
  });
  return parseConfig(text, { file: 'services.yaml', baseDir: '/' });
}

const channel = (service: number, id = 0xabcn): BrokerChannel => ({
  channelId: id,
  consumerVm: 2,
  providerVm: 1,
  service,
  instance: 1,
  major: 1,
  mode: 'plain',
  window: { offset: 1n << 20n, length: WINDOW },
  consumerSerial: 1n,
  providerSerial: 1n,
});

describe('ChannelDevices', () => {
  let dir: string;
  let lines: Record<string, unknown>[];
  const log = (): JsonLogger =>
    new JsonLogger('debug', (l) => void lines.push(JSON.parse(l) as Record<string, unknown>));

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-devices-'));
    lines = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('should refuse qemu mode when a VM of a device service has no QMP socket, naming it', () => {
    const c = config({ infotainment: '/run/a.qmp' });
    expect(
      () =>
        new ChannelDevices({
          config: c,
          dir,
          epoch: 1n,
          log: log(),
          qmp: new QmpConnections(c, 100),
        }),
    ).to.throw(
      HostdError,
      /service VehicleSpeed has isolation: device but vm cluster has no QMP socket: set vms\[\]\.qmp/,
    );
    // rogue takes part in no device service: it needs none
    const ok = config({ infotainment: '/run/a.qmp', cluster: '/run/b.qmp' });
    expect(
      () =>
        new ChannelDevices({
          config: ok,
          dir,
          epoch: 1n,
          log: log(),
          qmp: new QmpConnections(ok, 100),
        }),
    ).not.to.throw();
  });

  it('should give a device channel its memory at channel-pending, tell only its pair, and free it only when the broker does', () => {
    writeFileSync(path.join(dir, 'ffff000000000001.chan'), 'left by a killed hostd');
    const devices = new ChannelDevices({ config: config(), dir, epoch: 5n, log: log() });
    expect(existsSync(path.join(dir, 'ffff000000000001.chan')), 'stale files go').to.equal(false);
    const speed = channel(0x1234);
    const media = channel(0x1235, 0xdefn);
    expect(devices.windowOffset(speed)).to.equal(4096n);
    expect(devices.windowOffset(media)).to.equal(undefined);
    devices.apply({ kind: 'channel-pending', channel: speed });
    devices.apply({ kind: 'channel-pending', channel: media });
    const file = path.join(dir, '0000000000000abc.chan');
    expect(readChannelDeviceHeader(readFileSync(file))).to.include({
      epoch: 5n,
      channelId: 0xabcn,
      consumerVm: 2,
      providerVm: 1,
    });
    expect(devices.grantFrame(2, speed)).to.deep.equal({ channelDevice: file });
    expect(devices.grantFrame(1, speed)).to.deep.equal({ channelDevice: file });
    expect(devices.grantFrame(3, speed), 'a third VM is told nothing').to.equal(undefined);
    expect(devices.grantFrame(2, media), 'a region channel has no device').to.equal(undefined);
    expect(devices.list().map((d) => d.channelId)).to.deep.equal([0xabcn]);

    devices.apply({ kind: 'window-quarantine', channel: speed, holder: 2 });
    expect(existsSync(file), 'a quarantined channel keeps its memory').to.equal(true);
    devices.apply({ kind: 'window-release', channel: speed });
    expect(existsSync(file)).to.equal(false);
    expect(devices.list()).to.deep.equal([]);
    expect(lines.map((l) => l['event'])).to.include('channel-device-freed');
  });

  it('should withhold the grant when a QEMU cannot be reached, and log which', async () => {
    const c = config({
      infotainment: path.join(dir, 'none-a.qmp'),
      cluster: path.join(dir, 'none-b.qmp'),
    });
    const devices = new ChannelDevices({
      config: c,
      dir,
      epoch: 1n,
      log: log(),
      qmp: new QmpConnections(c, 500),
    });
    const speed = channel(0x1234);
    devices.apply({ kind: 'channel-pending', channel: speed });
    expect(await devices.grantFrame(2, speed)!.ready).to.equal(false);
    const failed = lines.filter((l) => l['event'] === 'device-plug-failed');
    expect(failed.map((l) => l['vm'])).to.have.members([1, 2]);
    expect(String(failed[0]!['error'])).to.match(
      /cannot reach vm \d \(\w+\) QEMU at .* \(ENOENT\)/,
    );
    // Neither QEMU was reached, so neither holds anything: the memory goes with the channel.
    devices.apply({ kind: 'window-free', channel: speed, cause: 'aborted' });
    await waitFor(() => lines.some((l) => l['event'] === 'channel-device-freed'), 'freed');
    expect(existsSync(path.join(dir, '0000000000000abc.mem'))).to.equal(false);
    await devices.close();
  });

  it('should free the memory when a quarantined window is released after its unplug ended', async () => {
    const c = config({
      infotainment: path.join(dir, 'none-a.qmp'),
      cluster: path.join(dir, 'none-b.qmp'),
    });
    const devices = new ChannelDevices({
      config: c,
      dir,
      epoch: 1n,
      log: log(),
      qmp: new QmpConnections(c, 500),
    });
    const speed = channel(0x1234);
    devices.apply({ kind: 'channel-pending', channel: speed });
    await devices.grantFrame(2, speed)!.ready;
    // The holder did not prove its revoke: the hypervisor ends access, the broker keeps the window.
    devices.apply({ kind: 'window-quarantine', channel: speed, holder: 2 });
    await waitFor(
      () => devices.list()[0]?.vms.every((v) => v.state === 'unplugged') === true,
      'unplugged',
    );
    expect(lines.some((l) => l['event'] === 'channel-device-freed')).to.equal(false);
    // Later the broker releases it (the VM started over): nobody holds it, so it goes.
    devices.apply({ kind: 'window-release', channel: speed });
    await waitFor(() => lines.some((l) => l['event'] === 'channel-device-freed'), 'freed');
    expect(devices.list()).to.deep.equal([]);
    await devices.close();
  });
});
