import { randomBytes } from 'node:crypto';
import { statSync, unlinkSync } from 'node:fs';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { ChannelTableReader } from '../../src/region/channel-table-reader.js';
import { ChannelTableWriter } from '../../src/region/channel-table-writer.js';
import { readRegionHeader, writeRegionHeader } from '../../src/region/region-header.js';
import { RegionLayout } from '../../src/region/region-layout.js';
import { WindowAllocator } from '../../src/region/window-allocator.js';
import { EventfdWaker } from '../../src/notify/eventfd-waker.js';
import { RingConsumer } from '../../src/ring/ring-consumer.js';
import { RingProducer } from '../../src/ring/ring-producer.js';
import { ringViews, windowOf } from '../../src/ring/ring-views.js';
import type { RingViews } from '../../src/ring/ring-views.js';
import { eventfdCreate } from '../../src/native/eventfd.js';
import { closeFd } from '../../src/native/fd.js';
import { createRegionFile, mapFile, unmap } from '../../src/native/map-file.js';

/** What a process needs to attach to a test channel: the region file, the channel id, the doorbells. */
export interface ShmChannelSpec {
  readonly path: string;
  /** Channel id as a decimal string (JSON has no bigint). */
  readonly channelId: string;
  /** eventfd rung towards the provider (c2p direction) and towards the consumer (p2c). */
  readonly efdC2p: number;
  readonly efdP2c: number;
}

/** The hostd side of a test channel: owns the region file and the eventfds. */
export interface HostChannel {
  readonly spec: ShmChannelSpec;
  close(): void;
}

/** One role's end of a channel in a mapped region, built only from public pieces. */
export interface ChannelEnd {
  readonly producer: RingProducer;
  readonly consumer: RingConsumer;
  readonly producerWaker: EventfdWaker;
  readonly consumerWaker: EventfdWaker;
  readonly sendViews: RingViews;
  readonly recvViews: RingViews;
  close(): void;
}

/** Undefined when the addon loads, else why it does not (tests print it and skip). */
export function addonUnavailable(): string | undefined {
  try {
    closeFd(eventfdCreate());
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Plays hostd for a test: creates a region file under /dev/shm, writes the header, allocates
 * one window with the real allocator and publishes it ACTIVE in the channel table.
 */
export function createShmChannel(dataSize: number): HostChannel {
  const windowLength = WindowLayout.windowLength(dataSize);
  let regionSize = 64 * 1024;
  while (regionSize < windowLength + 2 * PAGE_SIZE) regionSize *= 2;
  const path = `/dev/shm/sivshm-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  closeFd(createRegionFile(path, regionSize, { exclusive: true }));
  const m = mapFile(path, 0, regionSize, { writable: true });
  try {
    const shared = new Uint8Array(m.shared);
    const layout = RegionLayout.compute({ regionSize, channelCapacity: 16 });
    writeRegionHeader(shared, layout, 1n);
    const alloc = new WindowAllocator({
      dataOffset: layout.dataOffset,
      dataSize: layout.dataSize,
      memory: new Uint8Array(m.bulk),
    });
    const offset = alloc.allocate(windowLength);
    if (offset === undefined) throw new Error('test region too small');
    const channelId = BigInt('0x' + randomBytes(8).toString('hex')) | 1n;
    new ChannelTableWriter(shared, layout).write(0, {
      channelId,
      generation: 1,
      state: 'ACTIVE',
      offset,
      length: windowLength,
      consumerVm: 1,
      providerVm: 2,
      service: 0x1234,
      instance: 1,
      major: 1,
      mode: 0,
      ringDataSize: dataSize,
    });
    const efdC2p = eventfdCreate();
    const efdP2c = eventfdCreate();
    return {
      spec: { path, channelId: channelId.toString(), efdC2p, efdP2c },
      close() {
        closeFd(efdC2p);
        closeFd(efdP2c);
        unlinkSync(path);
      },
    };
  } finally {
    unmap(m.handle);
  }
}

/**
 * Attaches `role` to the channel the way an app would: map the region, validate the header,
 * look the channel up in the table, cut its window, build both ring ends.
 */
export function attachChannel(spec: ShmChannelSpec, role: 'consumer' | 'provider'): ChannelEnd {
  const size = statSync(spec.path).size;
  const m = mapFile(spec.path, 0, size, { writable: true });
  const shared = new Uint8Array(m.shared);
  const header = readRegionHeader(shared);
  const found = new ChannelTableReader(shared, header).find(BigInt(spec.channelId));
  if (found === undefined) throw new Error(`channel ${spec.channelId} not in the table`);
  const { offset, length, ringDataSize } = found.entry;
  const win = windowOf({ shared, bulk: new Uint8Array(m.bulk) }, offset, length);
  const sendDir = role === 'consumer' ? 'c2p' : 'p2c';
  const recvDir = role === 'consumer' ? 'p2c' : 'c2p';
  const producerWaker = new EventfdWaker(role === 'consumer' ? spec.efdC2p : spec.efdP2c);
  const consumerWaker = new EventfdWaker(role === 'consumer' ? spec.efdP2c : spec.efdC2p);
  const sendViews = ringViews(win, sendDir, ringDataSize);
  const recvViews = ringViews(win, recvDir, ringDataSize);
  return {
    producer: new RingProducer(sendViews, { waker: producerWaker }),
    consumer: new RingConsumer(recvViews),
    producerWaker,
    consumerWaker,
    sendViews,
    recvViews,
    close() {
      producerWaker.close();
      consumerWaker.close();
      unmap(m.handle);
    },
  };
}

/** Deterministic payload bytes for record `seq`, so any corruption or reordering is visible. */
export function payloadFor(seq: number, length: number): Uint8Array {
  const a = new Uint8Array(length);
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

/** Payload length for record `seq`: spans tiny to a few hundred bytes and forces wraps. */
export function lengthFor(seq: number): number {
  return (seq * 37) % 301;
}

/**
 * Resolves once the peer producing into `consumer`'s ring has beaten its heartbeat at least
 * once (it has attached), standing in for the handshake that precedes ACTIVE in the product.
 */
export async function waitForPeer(consumer: RingConsumer, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (consumer.peerHeartbeat() === 0) {
    if (Date.now() > deadline) throw new Error(`peer did not attach within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
