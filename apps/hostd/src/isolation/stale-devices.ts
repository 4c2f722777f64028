import type { ServiceConfig } from '@sivshm/core';
import type { JsonLogger } from '../log/logger.js';
import { awaitLateUnplug, unplugChannelDevice } from '../qmp/ivshmem-hotplug.js';
import type { QmpClient } from '../qmp/qmp-client.js';
import type { QmpConnections } from '../qmp/qmp-connections.js';

const DEVICE_PREFIX = 'sivshm-dev-';
const MEMORY_PREFIX = 'sivshm-mem-';
/** setTimeout's longest delay: a stuck device waits this long per round for its guest. */
const FOREVER_MS = 2 ** 31 - 1;

/**
 * At start in qemu mode: channel devices a previous hostd plugged (it was killed, or its
 * unplug was stuck) are still in the VMs' QEMUs, their memory shared by that old pair. Their
 * channels died with the old epoch (sivshm.ko refuses their grants), so hostd unplugs them
 * now, like any revoked channel's: `device_del`, `DEVICE_DELETED`, `object-del`, never forced.
 * A QEMU that is not running yet has nothing to sweep.
 */
export async function sweepStaleDevices(o: {
  readonly config: ServiceConfig;
  readonly qmp: QmpConnections;
  readonly log: JsonLogger;
  readonly unplugTimeoutMs: number;
  /** True once hostd stops: a stuck device is then left with its QEMU. */
  readonly stopping: () => boolean;
}): Promise<void> {
  await Promise.all(
    o.config.vms
      .filter((vm) => vm.qmp !== undefined)
      .map(async (vm) => {
        let qmp: QmpClient;
        try {
          qmp = await o.qmp.of(vm.id);
        } catch (e) {
          o.log.debug('stale-device-sweep-skipped', { vm: vm.id, error: (e as Error).message });
          return;
        }
        await sweepOne(qmp, vm.id, o).catch((e: unknown) =>
          o.log.warn('stale-device-sweep-failed', { vm: vm.id, error: (e as Error).message }),
        );
      }),
  );
}

async function sweepOne(
  qmp: QmpClient,
  vm: number,
  o: Parameters<typeof sweepStaleDevices>[0],
): Promise<void> {
  const names = async (p: string): Promise<string[]> =>
    ((await qmp.execute('qom-list', { path: p })) as { name: string }[]).map((x) => x.name);
  const devices = (await names('/machine/peripheral')).filter((n) => n.startsWith(DEVICE_PREFIX));
  const memories = (await names('/objects')).filter((n) => n.startsWith(MEMORY_PREFIX));
  const hexes = new Set([
    ...devices.map((n) => n.slice(DEVICE_PREFIX.length)),
    ...memories.map((n) => n.slice(MEMORY_PREFIX.length)),
  ]);
  await Promise.all(
    [...hexes]
      .filter((hex) => /^[0-9a-f]{16}$/.test(hex))
      .map(async (hex) => {
        const channelId = BigInt(`0x${hex}`);
        o.log.warn('stale-channel-device', { vm, channel: `0x${channelId.toString(16)}` });
        const out = await unplugChannelDevice(qmp, channelId, o.unplugTimeoutMs);
        if (out.state === 'unplugged') return;
        o.log.warn('device-unplug-stuck', { vm, channel: `0x${hex}`, reason: out.reason });
        while (!(await awaitLateUnplug(qmp, channelId, FOREVER_MS))) {
          if (o.stopping() || qmp.closed) return;
        }
        o.log.info('device-unplugged-late', { vm, channel: `0x${channelId.toString(16)}` });
      }),
  );
}
