// The pcapng blocks `sivshm record` writes and `sivshm replay` reads: a round trip keeps
// interfaces, timestamps and bytes; a file that is not pcapng, or is cut, is one clear error.
import { expect } from 'chai';
import {
  interfaceBlock,
  LINKTYPE_ETHERNET,
  packetBlock,
  readPcapng,
  sectionHeaderBlock,
} from '../src/diag/pcapng.js';
import {
  channelInterface,
  frameOf,
  messageOf,
  recordedChannelFrom,
} from '../src/diag/recorded-channel.js';

const file = (...blocks: Uint8Array[]): Uint8Array => Buffer.concat(blocks);

describe('pcapng (record and replay)', () => {
  it('should read back interfaces, µs timestamps and frames as written, in order', () => {
    const channel = {
      channelId: 0xabcn,
      service: 0x1234,
      instance: 1,
      major: 1,
      mode: 'plain' as const,
      consumerVm: 2,
      providerVm: 1,
    };
    const message = new Uint8Array([0x12, 0x34, 0x80, 0x01, 0, 0, 0, 9, 0, 0, 0, 1, 1, 1, 2, 0, 7]);
    const bytes = file(
      sectionHeaderBlock('test'),
      interfaceBlock(channelInterface(channel, { service: 'VehicleSpeed' })),
      interfaceBlock({ linkType: LINKTYPE_ETHERNET, name: 'other', description: 'not sivshm' }),
      packetBlock({
        interfaceId: 0,
        timestampUs: 1_700_000_000_123_456n,
        data: frameOf(message, 1, 2),
      }),
      packetBlock({ interfaceId: 1, timestampUs: 1_700_000_000_123_457n, data: new Uint8Array(3) }),
    );
    expect(bytes.length % 4).to.equal(0);
    const r = readPcapng(bytes, 'x.pcapng');
    expect(r.interfaces.map((i) => i.name)).to.deep.equal(['sivshm-0xabc', 'other']);
    expect(recordedChannelFrom(r.interfaces[0]!)).to.deep.equal(channel);
    expect(recordedChannelFrom(r.interfaces[1]!)).to.equal(undefined);
    expect(r.packets.map((p) => p.timestampUs)).to.deep.equal([
      1_700_000_000_123_456n,
      1_700_000_000_123_457n,
    ]);
    expect([...messageOf(r.packets[0]!.data)!]).to.deep.equal([...message]);
    expect([...r.packets[1]!.data]).to.deep.equal([0, 0, 0]);
  });

  it('should refuse what is not pcapng, a cut file and a packet before its interface', () => {
    const shb = sectionHeaderBlock('test');
    expect(() => readPcapng(Buffer.from('hello world, not a capture'), 'x')).to.throw(
      /^x is not a pcapng file sivshm can read: no section header at byte 0$/,
    );
    const packet = packetBlock({ interfaceId: 0, timestampUs: 1n, data: new Uint8Array(8) });
    expect(() => readPcapng(file(shb, packet.subarray(0, 20)), 'x')).to.throw(
      `x is not a pcapng file sivshm can read: a block cut short at byte ${shb.length}`,
    );
    expect(() => readPcapng(file(shb, packet), 'x')).to.throw(
      /a packet on an interface not described before it/,
    );
  });
});
