import type { ChannelDevice } from '../device/channel-device.js';
import { KernelDevice } from '../device/kernel-device.js';
import type { Doorbells } from './doorbells.js';
import { EmulatedDoorbells } from './emulated-doorbells.js';
import { KernelDoorbells } from './kernel-doorbells.js';

/**
 * The doorbells that go with `device`: through the device itself when it is sivshm.ko's (qemu
 * mode: the guest cannot reach hostd's ivshmem server socket, but its ivshmem-doorbell device
 * can, and its IVPosition is the doorbell id), from the ivshmem server at `ivshmemSocket`
 * otherwise (emulated mode). Rejects as {@link EmulatedDoorbells.connect} does.
 */
export async function doorbellsFor(
  device: ChannelDevice,
  ivshmemSocket: string,
): Promise<Doorbells> {
  if (device instanceof KernelDevice) return new KernelDoorbells(device);
  return EmulatedDoorbells.connect(ivshmemSocket);
}
