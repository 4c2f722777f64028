import { HostdError } from '../errors/hostd-error.js';
import type { QmpClient } from './qmp-client.js';

/**
 * The QOM ids of one channel's memory backend and ivshmem-plain device in a VM's QEMU, derived
 * from the channel id (16 lowercase hex digits), so hostd can find them again after any event
 * and two channels never share one.
 */
export function channelDeviceIds(channelId: bigint): { memory: string; device: string } {
  const hex = channelId.toString(16).padStart(16, '0');
  return { memory: `sivshm-mem-${hex}`, device: `sivshm-dev-${hex}` };
}

/** What hot-plugging a channel device needs: the backing file (still linked) and its size. */
export interface ChannelDevicePlug {
  readonly channelId: bigint;
  /** The backing file hostd made; QEMU opens it at `object-add`. */
  readonly memPath: string;
  /** Bytes, a power of two (the device's BAR2). */
  readonly size: number;
}

/**
 * Adds the channel's memory backend and an ivshmem-plain device on it to one QEMU.
 * `share: true` is what makes the guest's BAR the file's pages (without it QEMU maps the file
 * privately and nothing is shared, silently). When `device_add` is refused the backend is
 * removed again, so a failed plug leaves nothing behind in that QEMU.
 */
export async function plugChannelDevice(qmp: QmpClient, p: ChannelDevicePlug): Promise<void> {
  // QEMU 7.2 asserts that a BAR is a power of two and aborts the whole VM otherwise.
  if (!Number.isSafeInteger(p.size) || p.size < 4096 || (p.size & (p.size - 1)) !== 0) {
    throw new HostdError(
      'ERR_QMP',
      `channel device size ${p.size} is not a power of two of at least 4096 bytes; not sent to ${qmp.label} (QEMU would abort the VM)`,
    );
  }
  const ids = channelDeviceIds(p.channelId);
  await qmp.execute('object-add', {
    'qom-type': 'memory-backend-file',
    id: ids.memory,
    'mem-path': p.memPath,
    size: p.size,
    share: true,
  });
  try {
    await qmp.execute('device_add', {
      driver: 'ivshmem-plain',
      id: ids.device,
      memdev: ids.memory,
    });
  } catch (e) {
    await qmp.execute('object-del', { id: ids.memory }).catch(() => undefined);
    throw e;
  }
}

/** How an unplug ended in one QEMU. */
export type UnplugOutcome =
  /** DEVICE_DELETED came and the backend is gone: that QEMU maps nothing of the channel. */
  | { readonly state: 'unplugged'; readonly ms: number }
  /**
   * The guest did not release the device in time (no hot-plug driver, paused, or hostile):
   * the device and its memory stay in that QEMU. Never forced: see `awaitLateUnplug`.
   */
  | { readonly state: 'stuck'; readonly ms: number; readonly reason: string };

/**
 * Asks one QEMU to unplug the channel's device (`device_del`, which needs the guest's
 * cooperation through ACPI), waits up to `timeoutMs` for `DEVICE_DELETED`, then deletes the
 * memory backend. A device QEMU no longer has counts as unplugged once its backend is gone.
 */
export async function unplugChannelDevice(
  qmp: QmpClient,
  channelId: bigint,
  timeoutMs: number,
): Promise<UnplugOutcome> {
  const ids = channelDeviceIds(channelId);
  const start = performance.now();
  const deleted = qmp.nextEvent(
    (e) => e.event === 'DEVICE_DELETED' && e.data['device'] === ids.device,
    timeoutMs,
  );
  let gone = false;
  try {
    await qmp.execute('device_del', { id: ids.device });
  } catch (e) {
    // Already gone (an earlier unplug completed, or the plug failed half way): nothing to wait for.
    if (!isDeviceNotFound(e)) throw e;
    gone = true;
  }
  if (!gone && (await deleted) === undefined) {
    const ms = performance.now() - start;
    const reason = qmp.closed
      ? `${qmp.label} closed its QMP socket during the unplug`
      : `the guest did not release ${ids.device} within ${timeoutMs} ms`;
    return { state: 'stuck', ms, reason };
  }
  await deleteBackend(qmp, ids.memory);
  return { state: 'unplugged', ms: performance.now() - start };
}

/**
 * Resolves when a device that was `stuck` is finally released by its guest (a late
 * `DEVICE_DELETED`), after deleting its backend; resolves false when the QMP socket closes
 * first (that QEMU exited: it maps nothing any more either) or `timeoutMs` passes.
 */
export async function awaitLateUnplug(
  qmp: QmpClient,
  channelId: bigint,
  timeoutMs: number,
): Promise<boolean> {
  const ids = channelDeviceIds(channelId);
  const e = await qmp.nextEvent(
    (ev) => ev.event === 'DEVICE_DELETED' && ev.data['device'] === ids.device,
    timeoutMs,
  );
  if (e === undefined) return false;
  await deleteBackend(qmp, ids.memory);
  return true;
}

async function deleteBackend(qmp: QmpClient, id: string): Promise<void> {
  try {
    await qmp.execute('object-del', { id });
  } catch (e) {
    if (!isObjectNotFound(e)) throw e;
  }
}

function isDeviceNotFound(e: unknown): boolean {
  return HostdError.is(e) && /DeviceNotFound|not found/i.test(e.message);
}

function isObjectNotFound(e: unknown): boolean {
  return HostdError.is(e) && /not found/i.test(e.message);
}
