// A region file with one ACTIVE channel whose two rings a test can write frames into, as the
// two VMs of a live channel would.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import {
  ChannelTableWriter,
  closeFd,
  createRegionFile,
  mapFile,
  RegionLayout,
  RingProducer,
  ringViews,
  unmap,
  windowOf,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';

export interface ChannelRegion {
  readonly file: string;
  readonly channelId: bigint;
  /** Writes one request (consumer → provider) with session `session`. */
  sendRequest(session: number): boolean;
  close(): void;
}

export function channelRegion(label: string): ChannelRegion {
  const file = `/dev/shm/sivshm-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const size = 1 << 20;
  const dataSize = 4 * PAGE_SIZE;
  const channelId = 0x77n;
  closeFd(createRegionFile(file, size, { exclusive: true }));
  const m = mapFile(file, 0, size, { writable: true });
  const region = new Uint8Array(m.shared);
  const layout = RegionLayout.compute({ regionSize: size, channelCapacity: 8 });
  writeRegionHeader(region, layout, 2n);
  const length = WindowLayout.windowLength(dataSize);
  new ChannelTableWriter(region, layout).write(0, {
    channelId,
    generation: 1,
    state: 'ACTIVE',
    offset: layout.dataOffset,
    length,
    consumerVm: 2,
    providerVm: 1,
    service: 0x1234,
    instance: 1,
    major: 1,
    mode: 0,
    ringDataSize: dataSize,
  });
  const c2p = new RingProducer(
    ringViews(windowOf({ shared: region }, layout.dataOffset, length), 'c2p', dataSize),
  );
  return {
    file,
    channelId,
    sendRequest: (session) =>
      c2p.sendCopy(
        {
          service: 0x1234,
          method: 0x0001,
          client: 2,
          session,
          interfaceVersion: 1,
          returnCode: 0,
          messageType: 0x00,
        },
        new Uint8Array(4).fill(session),
      ),
    close: () => {
      unmap(m.handle);
      rmSync(file, { force: true });
    },
  };
}
