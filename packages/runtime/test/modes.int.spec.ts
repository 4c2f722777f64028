// mac and aead end to end: hostd and the infotainment VM as their own OS processes, this test
// process as the cluster VM. What the region file holds while traffic flows, and what happens
// when someone replays a record into a sealed ring.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { WindowLayout, type ChannelMode } from '@sivshm/abi';
import {
  ChannelTableReader,
  mapFile,
  readRegionHeader,
  ringViews,
  unmap,
  windowOf,
} from '@sivshm/transport-ivshmem';
import { firstValueFrom, filter, take, toArray, timeout } from 'rxjs';
import { readStatus, setUpEachTest, waitFor } from './support/deployment.js';

interface VehicleSpeed {
  kph: number;
  odometer_m: unknown;
}

/** Protobuf varint of a non-negative integer below 2^53. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** A distinctive odometer value (the provider takes up to 1e9): a 5-byte varint. */
const MARK = 987_654_321;

describe('mac and aead modes (hostd and two VM processes)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest({ provider: true, node: true });

  /**
   * Runs calls and events in `mode` and returns the plaintext markers found in the region file:
   * the request (`reset` to MARK), the response (the odometer it had reached) and the last
   * event received (its odometer field), each as protobuf bytes.
   */
  async function markersInRegion(mode: ChannelMode): Promise<string[]> {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1, mode });
    await speed.call('reset', { odometer_m: MARK });
    const events = await firstValueFrom(
      speed.event<VehicleSpeed>('speed').pipe(
        filter((e) => Number(String(e.odometer_m)) > MARK),
        take(4),
        toArray(),
        timeout(5000),
      ),
    );
    const reply = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
      'reset',
      { odometer_m: 7 },
    );
    const previous = Number(String(reply.previous_odometer_m));
    expect(previous).to.be.greaterThan(MARK);
    const lastEvent = Number(String(events.at(-1)!.odometer_m));
    const markers = {
      request: Buffer.from([0x08, ...varint(MARK)]),
      response: Buffer.from([0x08, ...varint(previous)]),
      event: Buffer.from([0x18, ...varint(lastEvent)]),
    };
    // Traffic keeps flowing (the provider publishes every 10 ms) while the file is read.
    const region = readFileSync(rig.d.regionPath);
    return Object.entries(markers)
      .filter(([, bytes]) => region.includes(bytes))
      .map(([name]) => name);
  }

  it('should leave request, response and event bytes readable in the region file in plain mode (the scan works)', async () => {
    expect(await markersInRegion('plain')).to.deep.equal(['request', 'response', 'event']);
  });

  it('should leave no plaintext of requests, responses or events in the region file in aead mode (33)', async () => {
    expect(await markersInRegion('aead')).to.deep.equal([]);
  });

  it('should keep the plaintext readable but tagged in mac mode', async () => {
    expect(await markersInRegion('mac')).to.deep.equal(['request', 'response', 'event']);
  });

  it('should refuse a provider record changed in the ring before the consumer read it, count it for the consumer at hostd, and re-establish the channel', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1, mode: 'aead' });
    await firstValueFrom(speed.event<VehicleSpeed>('speed').pipe(timeout(5000)));
    const channelId = speed.channelId!;
    // Synchronous from here to the flip: this process (the consumer) takes no event loop turn,
    // so the record flipped is one it has not read yet.
    expect(flipNextUnreadEvent(rig.d.regionPath, channelId, 2000)).to.equal(true);
    await waitFor(() => speed.connections === 2 && speed.status === 'connected', 'a new channel');
    expect(speed.channelId).to.not.equal(channelId);
    const vms = (
      (await readStatus(rig.d)) as unknown as { vms: { name: string; integrityFailures: number }[] }
    ).vms;
    expect(vms.find((v) => v.name === 'cluster')?.integrityFailures).to.equal(1);
    const e = await firstValueFrom(speed.event<VehicleSpeed>('speed').pipe(timeout(5000)));
    expect(e.kph).to.be.within(50, 99);
  });

  for (const mode of ['mac', 'aead'] as const) {
    it(`should refuse a record replayed into a ${mode} ring, count it at hostd, and re-establish the channel (24)`, async () => {
      const speed = await rig.node.consume('VehicleSpeed', { instance: 1, mode });
      await speed.call('reset', { odometer_m: 5 });
      const channelId = speed.channelId!;
      replayLastRequest(rig.d.regionPath, channelId);
      await waitFor(() => speed.connections === 2 && speed.status === 'connected', 'a new channel');
      expect(speed.channelId).to.not.equal(channelId);
      const status = await readStatus(rig.d);
      const vms = (status as unknown as { vms: { name: string; integrityFailures: number }[] }).vms;
      expect(vms.find((v) => v.name === 'infotainment')?.integrityFailures).to.equal(1);
      expect(vms.find((v) => v.name === 'cluster')?.integrityFailures).to.equal(0);
      const r = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
        'reset',
        { odometer_m: 0 },
      );
      expect(Number(String(r.previous_odometer_m))).to.be.greaterThan(0);
    });
  }
});

/** The c2p or p2c ring of channel `channelId` in the region file, mapped writable. */
function mapRing(
  regionPath: string,
  channelId: bigint,
  direction: 'c2p' | 'p2c',
): { views: ReturnType<typeof ringViews>; dataSize: number; unmap(): void } {
  const size = readFileSync(regionPath).length;
  const m = mapFile(regionPath, 0, size, { writable: true });
  const shared = new Uint8Array(m.shared);
  const found = new ChannelTableReader(shared, readRegionHeader(shared)).find(channelId);
  if (found === undefined) {
    unmap(m.handle);
    throw new Error(`channel ${channelId} is not in the table`);
  }
  const { offset, length } = found.entry;
  const window = windowOf({ shared, bulk: new Uint8Array(m.bulk) }, offset, length);
  const dataSize = WindowLayout.dataSizeOf(length)!;
  return { views: ringViews(window, direction, dataSize), dataSize, unmap: () => unmap(m.handle) };
}

/**
 * Plays an attacker with write access to the region: waits (blocking this process, up to
 * `waitMs`) until the provider has published a record the consumer has not released, and
 * flips a bit in its body. False when none came.
 */
function flipNextUnreadEvent(regionPath: string, channelId: bigint, waitMs: number): boolean {
  const ring = mapRing(regionPath, channelId, 'p2c');
  try {
    const v = ring.views;
    const consumed = Atomics.load(v.consumerPage, 0);
    const until = Date.now() + waitMs;
    while (Atomics.load(v.producerPage, 0) === consumed && Date.now() < until) {
      // busy: the provider (another process) publishes every 10 ms
    }
    if (Atomics.load(v.producerPage, 0) === consumed) return false;
    let pos = consumed & (ring.dataSize - 1);
    if (v.dataShared.getUint32(pos) === 0xffff_ffff && v.dataShared.getUint32(pos + 4) === 0) {
      pos = 0; // a wrap marker: the record starts at the beginning of the data area
    }
    const at = pos + 16; // the first byte of the sealed body
    v.dataBulk[at] = (v.dataBulk[at] ?? 0) ^ 0x01;
    return true;
  } finally {
    ring.unmap();
  }
}

/**
 * Plays an attacker with write access to the region: copies the last record of the channel's
 * consumer → provider ring to the ring's end and publishes it, as a replay. The consumer (this
 * process) is idle meanwhile, so nobody else writes that ring.
 */
function replayLastRequest(regionPath: string, channelId: bigint): void {
  const ring = mapRing(regionPath, channelId, 'c2p');
  try {
    const v = ring.views;
    const produced = Atomics.load(v.producerPage, 0);
    // Few records so far: the ring has not wrapped; walk them from offset 0.
    let at = 0;
    let last = -1;
    while (at < produced) {
      last = at;
      at += (16 + v.dataShared.getUint32(at + 4) - 8 + 7) & ~7;
    }
    if (last < 0 || produced >= ring.dataSize / 2) throw new Error('unexpected ring state');
    v.dataBulk.copyWithin(produced, last, at);
    Atomics.store(v.producerPage, 0, produced + (at - last));
  } finally {
    ring.unmap();
  }
}
