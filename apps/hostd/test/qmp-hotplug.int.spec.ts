// hostd's QMP client and the channel-device hot-plug against real QEMU processes (`pc`
// machine, no guest OS). The guest-cooperative unplug belongs to the guest tier; here no OS
// answers ACPI, so every device_del is an uncooperative guest's.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostdError } from '../src/errors/hostd-error.js';
import {
  awaitLateUnplug,
  channelDeviceIds,
  plugChannelDevice,
  unplugChannelDevice,
} from '../src/qmp/ivshmem-hotplug.js';
import { QmpClient } from '../src/qmp/qmp-client.js';
import { qemuAvailable, startQmpQemu, type QmpQemu } from './support/qmp-qemu.js';

const CHANNEL = 0x5eed0000c0ffeen;
const SIZE = 256 * 1024;

async function rejection(p: Promise<unknown>): Promise<HostdError> {
  try {
    await p;
  } catch (e) {
    expect(HostdError.is(e), String(e)).to.equal(true);
    return e as HostdError;
  }
  expect.fail('expected a rejection');
}

interface PciDevice {
  qdev_id: string;
  id: { vendor: number; device: number };
}
async function pciIds(q: QmpClient): Promise<PciDevice[]> {
  const buses = (await q.execute('query-pci')) as { devices: PciDevice[] }[];
  return buses.flatMap((b) => b.devices);
}

/** Polls (bounded) until `vm` no longer maps `file`. */
async function unmappedWithin(vm: QmpQemu, file: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (!vm.mappedFiles().some((f) => f.startsWith(file))) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function objectIds(q: QmpClient): Promise<string[]> {
  const list = (await q.execute('qom-list', { path: '/objects' })) as { name: string }[];
  return list.map((o) => o.name);
}

describe('hostd QMP client and channel-device hot-plug (real QEMU)', function () {
  this.timeout(60_000);
  let dir: string;
  const qemus: QmpQemu[] = [];
  const clients: QmpClient[] = [];

  before(function () {
    if (!qemuAvailable()) this.skip();
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sivshm-qmp-'));
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const q of qemus.splice(0)) {
      try {
        process.kill(q.pid, 'SIGCONT');
      } catch {
        // already gone
      }
      await q.stop();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function qemu(name: string): Promise<{ vm: QmpQemu; qmp: QmpClient }> {
    const vm = await startQmpQemu(dir, name);
    qemus.push(vm);
    const qmp = await QmpClient.connect(vm.socketPath, { label: `vm ${name}` });
    clients.push(qmp);
    return { vm, qmp };
  }

  function backingFile(): string {
    const file = path.join(dir, 'channel.mem');
    fs.writeFileSync(file, Buffer.alloc(SIZE), { mode: 0o600 });
    return file;
  }

  it('should negotiate capabilities and run commands', async () => {
    const { qmp } = await qemu('a');
    expect(await qmp.execute('query-status')).to.include({ status: 'running' });
  });

  it('should hot-plug the channel device into the two QEMUs it names, none other mapping its memory', async () => {
    const [a, b, c] = [await qemu('a'), await qemu('b'), await qemu('c')];
    const file = backingFile();
    for (const q of [a, b])
      await plugChannelDevice(q.qmp, { channelId: CHANNEL, memPath: file, size: SIZE });
    fs.unlinkSync(file); // as hostd does after both object-adds: only these QEMUs hold it now
    const ids = channelDeviceIds(CHANNEL);
    expect(ids).to.deep.equal({
      memory: 'sivshm-mem-005eed0000c0ffee',
      device: 'sivshm-dev-005eed0000c0ffee',
    });
    for (const q of [a, b]) {
      const dev = (await pciIds(q.qmp)).find((d) => d.qdev_id === ids.device);
      expect(dev?.id, 'an ivshmem-plain device (1af4:1110)').to.include({
        vendor: 0x1af4,
        device: 0x1110,
      });
      expect(q.vm.mappedFiles()).to.include(`${file} (deleted)`);
    }
    expect((await pciIds(c.qmp)).map((d) => d.qdev_id)).not.to.include(ids.device);
    expect(c.vm.mappedFiles().filter((f) => f.startsWith(file))).to.deep.equal([]);
  });

  it('should refuse a device size that is not a power of two before QEMU sees it (QEMU would abort)', async () => {
    const { qmp } = await qemu('a');
    const e = await rejection(
      plugChannelDevice(qmp, { channelId: CHANNEL, memPath: backingFile(), size: 200 * 1024 }),
    );
    expect(e.code).to.equal('ERR_QMP');
    expect(e.message).to.match(/size 204800 is not a power of two .*QEMU would abort/);
    expect(await objectIds(qmp)).not.to.include(channelDeviceIds(CHANNEL).memory);
    expect(await qmp.execute('query-status')).to.include({ status: 'running' });
  });

  it("should pass on QEMU's refusal with its error class, leaving no backend behind", async () => {
    const { qmp } = await qemu('a');
    const file = backingFile();
    await plugChannelDevice(qmp, { channelId: CHANNEL, memPath: file, size: SIZE });
    const again = await rejection(
      plugChannelDevice(qmp, { channelId: CHANNEL, memPath: file, size: SIZE }),
    );
    expect(again.message).to.match(
      /^vm a refused object-add: GenericError: attempt to add duplicate/,
    );
    // a device id already taken: object-add passes, device_add is refused, the backend goes again
    const other = 0x77n;
    await qmp.execute('object-add', {
      'qom-type': 'memory-backend-file',
      id: 'other-mem',
      'mem-path': file,
      size: SIZE,
      share: true,
    });
    await qmp.execute('device_add', {
      driver: 'ivshmem-plain',
      id: channelDeviceIds(other).device,
      memdev: 'other-mem',
    });
    const taken = await rejection(
      plugChannelDevice(qmp, { channelId: other, memPath: file, size: SIZE }),
    );
    expect(taken.message).to.match(/^vm a refused device_add: GenericError: /);
    expect(await objectIds(qmp)).not.to.include(channelDeviceIds(other).memory);
  });

  it('should leave a device the guest does not release stuck, never forced, and finish when it is released late', async () => {
    const { vm, qmp } = await qemu('a');
    const file = backingFile();
    await plugChannelDevice(qmp, { channelId: CHANNEL, memPath: file, size: SIZE });
    fs.unlinkSync(file);
    const ids = channelDeviceIds(CHANNEL);
    const out = await unplugChannelDevice(qmp, CHANNEL, 1000);
    expect(out.state).to.equal('stuck');
    expect(out).to.include({ reason: `the guest did not release ${ids.device} within 1000 ms` });
    // the memory stays where the guest can still reach it, and the guest keeps running
    expect(await objectIds(qmp)).to.include(ids.memory);
    expect(vm.mappedFiles()).to.include(`${file} (deleted)`);
    expect(await qmp.execute('query-status')).to.include({ status: 'running' });
    const objectDel = await rejection(qmp.execute('object-del', { id: ids.memory }));
    expect(objectDel.message).to.match(/is in use, can not be deleted/);

    // Stand-in for the guest finally releasing it: with no OS, only a reset completes the
    // pending ACPI eject. The test does this; hostd never resets a guest.
    const late = awaitLateUnplug(qmp, CHANNEL, 10_000);
    await qmp.execute('system_reset');
    expect(await late).to.equal(true);
    expect(await objectIds(qmp)).not.to.include(ids.memory);
    // QEMU unmaps a deleted backend after its RCU grace period, not within object-del
    expect(await unmappedWithin(vm, file, 5000)).to.equal(true);
  });

  it('should count a device QEMU no longer has as unplugged', async () => {
    const { qmp } = await qemu('a');
    expect((await unplugChannelDevice(qmp, CHANNEL, 1000)).state).to.equal('unplugged');
  });

  it('should fail a command QEMU does not answer with ERR_QMP naming it, and pending ones when QEMU exits', async () => {
    const { vm, qmp } = await qemu('a');
    process.kill(vm.pid, 'SIGSTOP');
    const slow = await rejection(qmp.execute('query-status', undefined, 300));
    expect(slow.message).to.equal(
      'vm a did not answer query-status within 300 ms (is it stopped or hung?)',
    );
    const pending = rejection(qmp.execute('query-status', undefined, 30_000));
    process.kill(vm.pid, 'SIGKILL');
    expect((await pending).message).to.match(
      /^vm a did not answer query-status: it(s QMP socket failed| closed its QMP socket)/,
    );
    expect(qmp.closed).to.equal(true);
    expect((await rejection(qmp.execute('query-status'))).code).to.equal('ERR_QMP');
  });

  it('should time out a QEMU that accepts but never greets, and say how to start one that is missing', async () => {
    const { vm } = await qemu('a');
    process.kill(vm.pid, 'SIGSTOP');
    const silent = await rejection(
      QmpClient.connect(vm.socketPath, { timeoutMs: 300, label: 'vm a' }),
    );
    expect(silent.message).to.equal(
      "vm a sent no QMP greeting within 300 ms (is that socket QEMU's -qmp?)",
    );
    const missing = path.join(dir, 'none.qmp');
    const absent = await rejection(QmpClient.connect(missing, { timeoutMs: 300 }));
    expect(absent.message).to.equal(
      `cannot reach QEMU at ${missing} (ENOENT): start that VM's QEMU with -qmp unix:${missing},server=on,wait=off or fix vms[].qmp in services.yaml`,
    );
  });
});
