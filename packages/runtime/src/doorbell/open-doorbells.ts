import {
  EmulatedDoorbells,
  KernelDevice,
  KernelDoorbells,
  type ChannelDevice,
  type Doorbells,
} from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/**
 * The VM's doorbells for `device`: through the device itself in qemu mode (the guest cannot
 * reach hostd's ivshmem server socket, but its ivshmem-doorbell device can, and sivshm.ko
 * delivers the rings; its IVPosition is the doorbell id), from hostd's ivshmem server at
 * `ivshmemSocket` otherwise. Rejects with `ERR_CONNECT` when the server does not answer.
 */
export async function openDoorbells(
  device: ChannelDevice,
  ivshmemSocket: string,
): Promise<Doorbells> {
  if (device instanceof KernelDevice) return new KernelDoorbells(device);
  try {
    return await EmulatedDoorbells.connect(ivshmemSocket);
  } catch (e) {
    throw new RuntimeError(
      'ERR_CONNECT',
      `cannot get doorbells from hostd's ivshmem server at ${ivshmemSocket}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
