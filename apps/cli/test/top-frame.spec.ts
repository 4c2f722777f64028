// `sivshm top`'s frame: rates are the producer index's advance over the poll interval (mod
// 2^32, so a wrapped index still counts forward), names come from the status document, and
// the table sorts by rate.
import { expect } from 'chai';
import { topFrame, type TopStatus } from '../src/commands/top-frame.js';
import { renderTop } from '../src/commands/top-render.js';

/** Speed's p2c and media's c2p carry traffic: bytes (the index) and records (the counter). */
function status(
  speedProduced: number,
  mediaProduced: number,
  speedRecords = 0,
  mediaRecords = 0,
): TopStatus {
  const rings = (c2p: number, p2c: number, c2pRecords: number, p2cRecords: number) => ({
    c2p: { producedBytes: c2p, queuedBytes: 0, records: c2pRecords },
    p2c: { producedBytes: p2c, queuedBytes: 64, records: p2cRecords },
  });
  return {
    pid: 7,
    epoch: '3',
    uptimeMs: 5000,
    vms: [
      { id: 1, name: 'infotainment', connected: true, enrolled: true, refusals: 0 },
      { id: 2, name: 'cluster', connected: true, enrolled: true, refusals: 2 },
    ],
    services: [{ service: 0x1234, instance: 1, providerVm: 1, ttl: 3 }],
    channels: [
      {
        channelId: '0xa',
        state: 'ACTIVE',
        mode: 'mac',
        consumerVm: 2,
        providerVm: 1,
        service: 0x1234,
        instance: 1,
        sinceMs: Date.now() - 4000,
        rings: rings(0, speedProduced, 0, speedRecords),
      },
      {
        channelId: '0xb',
        state: 'ACTIVE',
        mode: 'plain',
        consumerVm: 2,
        providerVm: 1,
        service: 0x1235,
        instance: 1,
        sinceMs: Date.now() - 4000,
        rings: rings(mediaProduced, 0, mediaRecords, 0),
      },
    ],
    handshakes: { established: 2, rejected: 0, aborted: 0, timingMs: { count: 2, last: 1.5 } },
    refusalsByReason: { ERR_PROTOCOL: 2 },
    serviceNames: { '0x1234': 'VehicleSpeed' },
  };
}

describe('sivshm top frame', () => {
  it('should turn producer-index deltas into bytes/s each way, across a 2^32 wrap', () => {
    const f = topFrame(status(0xffff_ff00, 100), status(0x0000_0100, 600), 500);
    const speed = f.channels.find((c) => c.channelId === '0xa')!;
    expect(speed.service).to.equal('VehicleSpeed');
    expect(speed.consumer).to.equal('cluster');
    expect(speed.p2c).to.deep.equal({
      recordsPerSecond: 0,
      bytesPerSecond: 1024,
      queuedBytes: 64,
      drops: 0,
      refused: 0,
    });
    expect(speed.c2p?.bytesPerSecond).to.equal(0);
    const media = f.channels.find((c) => c.channelId === '0xb')!;
    expect(media.service, 'an id without a name').to.equal('0x1235');
    expect(media.c2p?.bytesPerSecond).to.equal(1000);
    expect(f.services[0]).to.deep.include({ name: 'VehicleSpeed', provider: 'infotainment' });
    expect(f.services[0]!.consumers).to.deep.equal(['cluster']);
    expect(f.hostd.refusalsByReason).to.deep.equal({ ERR_PROTOCOL: 2 });
  });

  it('should turn the records counter into records/s each way, across a 2^32 wrap', () => {
    const f = topFrame(status(0, 0, 0xffff_fff0, 10), status(512, 512, 0x0000_0010, 30), 500);
    const speed = f.channels.find((c) => c.channelId === '0xa')!;
    expect(speed.p2c?.recordsPerSecond).to.equal(64); // 32 records in 0.5 s, over the wrap
    const media = f.channels.find((c) => c.channelId === '0xb')!;
    expect(media.c2p?.recordsPerSecond).to.equal(40);
    expect(media.p2c?.recordsPerSecond).to.equal(0);
  });

  it('should count a channel new since the previous poll at rate 0, not its whole history', () => {
    const before = { ...status(0, 0), channels: [] };
    const f = topFrame(before, status(5000, 5000), 1000);
    expect(f.channels.map((c) => c.p2c?.bytesPerSecond)).to.deep.equal([0, 0]);
  });

  it('should render the busiest channel first with names, mode and rates', () => {
    const lines = renderTop(topFrame(status(0, 0), status(2048, 10, 16, 1), 1000));
    expect(lines[0]).to.match(/^sivshm top — hostd pid 7, epoch 3/);
    expect(lines.join('\n')).to.match(/refusals: ERR_PROTOCOL 2/);
    const rows = lines.filter((l) => l.startsWith('0x'));
    expect(rows[0]).to.match(
      /^0xa\s+VehicleSpeed\.1\s+cluster\s+mac\s+unknown\/unknown\s+ACTIVE\s+0\/s\s+0B\/s\s+0\s+16\/s\s+2\.0K\/s\s+64\s+0\s/,
    );
    expect(rows[1]).to.match(/^0xb\s+0x1235\.1/);
  });

  it('should show each direction drops and both ends notification modes, junk as unknown', () => {
    const after = status(0, 0);
    const [speed, media] = after.channels;
    Object.assign(speed!.rings!.c2p, { consumerNotify: 'event' });
    Object.assign(speed!.rings!.p2c, { consumerNotify: 'adaptive', drops: 0xffff_ffff });
    // What a peer (or a hostd of another version) may put there: never shown as a mode.
    Object.assign(media!.rings!.c2p, { consumerNotify: 'x'.repeat(500) });
    Object.assign(media!.rings!.p2c, { consumerNotify: 7, drops: 3 });
    const f = topFrame(status(0, 0), after, 1000);
    const a = f.channels.find((c) => c.channelId === '0xa')!;
    expect(a.notify).to.equal('event/adaptive');
    expect(a.p2c?.drops).to.equal(0xffff_ffff);
    expect(a.c2p?.drops).to.equal(0);
    const b = f.channels.find((c) => c.channelId === '0xb')!;
    expect(b.notify).to.equal('unknown/unknown');
    expect(b.p2c?.drops).to.equal(3);
    const rows = renderTop(f, 'service').filter((l) => l.startsWith('0x'));
    expect(rows[0]).to.match(/^0xb\s.*\splain\s+unknown\/unknown\s+ACTIVE\s.*\s3\s+0\s+\d+s ago$/);
    expect(rows[1]).to.match(
      /^0xa\s.*\smac\s+event\/adaptive\s+ACTIVE\s.*\s4294967295\s+0\s+\d+s ago$/,
    );
  });

  it('should show the requests each provider refused past its maxCallsInFlight (c2p), as a u32', () => {
    const after = status(0, 0);
    const [speed, media] = after.channels;
    Object.assign(speed!.rings!.c2p, { refused: 5 });
    // A peer's word, passed on as read: whatever it holds, top shows a u32.
    Object.assign(media!.rings!.c2p, { refused: -1 });
    const f = topFrame(status(0, 0), after, 1000);
    expect(f.channels.find((c) => c.channelId === '0xa')!.c2p?.refused).to.equal(5);
    expect(f.channels.find((c) => c.channelId === '0xb')!.c2p?.refused).to.equal(0xffff_ffff);
    const lines = renderTop(f, 'service');
    expect(lines.find((l) => l.startsWith('CHANNEL'))).to.match(/\sDROPS\s+REFUSED\s+SINCE$/);
    const rows = lines.filter((l) => l.startsWith('0x'));
    expect(rows[1]).to.match(/^0xa\s.*\s0\s+5\s+\d+s ago$/);
    expect(rows[0]).to.match(/^0xb\s.*\s0\s+4294967295\s+\d+s ago$/);
  });
});
