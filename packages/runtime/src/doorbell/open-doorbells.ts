import { doorbellsFor, type ChannelDevice, type Doorbells } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/**
 * The VM's doorbells for `device` (see `doorbellsFor`): the device's own in qemu mode, hostd's
 * ivshmem server at `ivshmemSocket` otherwise. Rejects with `ERR_CONNECT` when they cannot be
 * had, saying where it looked.
 */
export async function openDoorbells(
  device: ChannelDevice,
  ivshmemSocket: string,
): Promise<Doorbells> {
  try {
    return await doorbellsFor(device, ivshmemSocket);
  } catch (e) {
    throw new RuntimeError(
      'ERR_CONNECT',
      `cannot get doorbells from hostd's ivshmem server at ${ivshmemSocket}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
