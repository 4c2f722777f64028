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
  RingConsumer,
  RingProducer,
  ringViews,
  unmap,
  windowOf,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';

/** The SOME/IP header fields a test sets: service 0x1234, method 1, interface version 1. */
export interface FrameHeader {
  readonly client: number;
  readonly session: number;
  readonly messageType: number;
}

export interface ChannelRegion {
  readonly file: string;
  readonly channelId: bigint;
  /** Writes one request (consumer → provider) with session `session`. */
  sendRequest(session: number): boolean;
  /** Writes one frame of service 0x1234 method 1 into the consumer → provider ring. */
  sendC2p(header: FrameHeader, payload: Uint8Array): boolean;
  /** Writes one frame of service 0x1234 method 1 into the provider → consumer ring. */
  sendP2c(header: FrameHeader, payload: Uint8Array): boolean;
  /** Reads and releases every record in the provider → consumer ring, as its consumer would. */
  drainP2c(): number;
  close(): void;
}

const FIXED = { service: 0x1234, method: 0x0001, interfaceVersion: 1, returnCode: 0 } as const;

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
  const win = windowOf({ shared: region }, layout.dataOffset, length);
  const c2p = new RingProducer(ringViews(win, 'c2p', dataSize));
  const p2c = new RingProducer(ringViews(win, 'p2c', dataSize));
  const p2cConsumer = new RingConsumer(ringViews(win, 'p2c', dataSize));
  return {
    file,
    channelId,
    sendRequest: (session) =>
      c2p.sendCopy(
        { ...FIXED, client: 2, session, messageType: 0x00 },
        new Uint8Array(4).fill(session),
      ),
    sendC2p: (header, payload) => c2p.sendCopy({ ...FIXED, ...header }, payload),
    sendP2c: (header, payload) => p2c.sendCopy({ ...FIXED, ...header }, payload),
    drainP2c: () => {
      let n = 0;
      while (p2cConsumer.receive() !== undefined) {
        p2cConsumer.release();
        n++;
      }
      return n;
    },
    close: () => {
      unmap(m.handle);
      rmSync(file, { force: true });
    },
  };
}
