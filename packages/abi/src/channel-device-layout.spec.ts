import { expect } from 'chai';
import { channelDeviceHeader } from '@sivshm/testing';
import {
  ChannelDeviceHeaderLayout,
  channelDeviceSize,
  readChannelDeviceHeader,
  writeChannelDeviceHeader,
  type ChannelDeviceHeader,
} from './channel-device-layout.js';
import { windowLayout } from './region-layout.js';

const header = (over: Partial<ChannelDeviceHeader> = {}): ChannelDeviceHeader => ({
  ...channelDeviceHeader({
    deviceSize: 256 * 1024,
    epoch: 7n,
    channelId: 0x1122334455667788n,
    windowLength: windowLayout(4096).windowLength(64 * 1024),
    ringDataSize: 64 * 1024,
  }),
  ...over,
});

describe('channel device layout', () => {
  it('should size a device as the smallest power of two holding header and window, at least 64 KiB', () => {
    expect(channelDeviceSize(4096, windowLayout(4096).windowLength(64 * 1024))).to.equal(
      256 * 1024,
    );
    expect(channelDeviceSize(4096, windowLayout(4096).windowLength(4096))).to.equal(64 * 1024);
    expect(channelDeviceSize(16384, windowLayout(16384).windowLength(16384))).to.equal(128 * 1024);
  });

  it('should write the header at the offsets docs/protocol.md §10 names and read it back', () => {
    const mem = new Uint8Array(256 * 1024).fill(0xee);
    writeChannelDeviceHeader(mem, header());
    const dv = new DataView(mem.buffer);
    expect([...mem.subarray(0, 8)]).to.deep.equal([0x53, 0x49, 0x56, 0x43, 0x48, 0x4e, 0, 1]);
    expect(dv.getUint32(8, true)).to.equal(1);
    expect(dv.getUint32(12, true)).to.equal(4096);
    expect(dv.getBigUint64(16, true)).to.equal(256n * 1024n);
    expect(dv.getBigUint64(24, true)).to.equal(7n);
    expect(dv.getBigUint64(32, true)).to.equal(0x1122334455667788n);
    expect(dv.getBigUint64(40, true)).to.equal(4096n);
    expect(dv.getBigUint64(48, true)).to.equal(BigInt(4 * 4096 + 2 * 65536));
    expect(dv.getUint32(56, true)).to.equal(4096);
    expect(dv.getUint32(60, true)).to.equal(65536);
    expect([dv.getUint32(64, true), dv.getUint32(68, true)]).to.deep.equal([2, 1]);
    expect([dv.getUint16(72, true), dv.getUint16(74, true), mem[76], mem[77]]).to.deep.equal([
      0x1234, 1, 1, 0,
    ]);
    expect(mem.subarray(ChannelDeviceHeaderLayout.size, 4096).every((b) => b === 0)).to.equal(true);
    expect(mem[4096], 'the window is not touched').to.equal(0xee);
    expect(readChannelDeviceHeader(mem)).to.deep.equal(header());
  });

  it('should refuse memory that is not a channel device: wrong magic, version, window or size', () => {
    const good = new Uint8Array(256 * 1024);
    writeChannelDeviceHeader(good, header());
    const broken = (patch: (dv: DataView, m: Uint8Array) => void): Uint8Array => {
      const m = good.slice();
      patch(new DataView(m.buffer), m);
      return m;
    };
    const cases: Record<string, Uint8Array> = {
      'region magic': broken((_, m) => m.set([0x53, 0x49, 0x56, 0x53, 0x48, 0x4d, 0, 1])),
      version: broken((dv) => dv.setUint32(8, 2, true)),
      'header size': broken((dv) => dv.setUint32(12, 8192, true)),
      'unknown granule': broken((dv) => dv.setUint32(56, 8192, true)),
      'window offset': broken((dv) => dv.setBigUint64(40, 0n, true)),
      'window length not of the layout': broken((dv) => dv.setBigUint64(48, 4096n * 5n, true)),
      'device size not the memory': broken((dv) => dv.setBigUint64(16, 128n * 1024n, true)),
      'channel id 0': broken((dv) => dv.setBigUint64(32, 0n, true)),
      reserved: broken((dv) => dv.setUint16(78, 1, true)),
    };
    for (const [name, m] of Object.entries(cases)) {
      expect(readChannelDeviceHeader(m), name).to.equal(undefined);
    }
    expect(readChannelDeviceHeader(good.subarray(0, 16))).to.equal(undefined);
  });
});
