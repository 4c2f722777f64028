// EmulatedDevice and the memory of isolation: device channels (docs/protocol.md §10): a device
// grant is checked against the header of the file bound to its channel, maps from that file,
// one per device file, and a revoke forgets the binding.
import { expect } from 'chai';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GrantPerm, channelDeviceSize, windowLayout, writeChannelDeviceHeader } from '@sivshm/abi';
import { signRevoke } from '@sivshm/core';
import { nodeBackend, signGrant } from '@sivshm/core/testing';
import { channelDeviceHeader } from '@sivshm/testing';
import { EmulatedDevice } from '../../src/device/emulated-device.js';
import { TransportError } from '../../src/errors/transport-error.js';
import { createRegionFixture, type RegionFixture } from './region-fixture.js';

const KEY = new Uint8Array(32).fill(0x42);
const WINDOW = windowLayout(4096).windowLength(16384);

/** A channel's memory file as hostd makes it (epoch 3, consumer VM 2, provider VM 1). */
function deviceFile(dir: string, channelId: bigint): string {
  const size = channelDeviceSize(4096, WINDOW);
  const mem = new Uint8Array(size);
  writeChannelDeviceHeader(
    mem,
    channelDeviceHeader({
      deviceSize: size,
      epoch: 3n,
      channelId,
      windowLength: WINDOW,
      ringDataSize: 16384,
    }),
  );
  const file = path.join(dir, `${channelId.toString(16)}.chan`);
  writeFileSync(file, mem, { mode: 0o600 });
  return file;
}

function deviceGrant(
  kn: Uint8Array,
  channelId: bigint,
  serial = 1n,
  role: 'consumer' | 'provider' = 'consumer',
) {
  return signGrant(nodeBackend, KEY, {
    role,
    perms: GrantPerm.map,
    epoch: 3n,
    grantSerial: serial,
    vmId: 2,
    channelId,
    windowOffset: 4096n,
    windowLength: BigInt(WINDOW),
    kn,
    notAfterNs: BigInt(Date.now() + 60_000) * 1_000_000n,
    mode: 'plain',
    target: 'device',
  });
}

function readAt(file: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, out, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

describe('EmulatedDevice: channel devices', () => {
  let region: RegionFixture;
  let device: EmulatedDevice;
  let dir: string;

  beforeEach(() => {
    region = createRegionFixture();
    device = new EmulatedDevice({ regionPath: region.path, vmId: 2, grantKey: KEY });
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-chan-'));
  });
  afterEach(() => {
    device.close();
    region.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it("should map a device grant's window from the channel's own file, never from the region", () => {
    const file = deviceFile(dir, 0x77n);
    device.bindChannelDevice(file);
    const f = device.open();
    const g = deviceGrant(f.nonce, 0x77n);
    const w = f.presentGrant(g.token, g.tag);
    expect(w).to.include({ channelId: 0x77n, offset: 4096, length: WINDOW });
    const mem = f.mapWindow(0x77n);
    mem.shared.set([0xde, 0xad, 0xbe, 0xef], 0);
    expect([...readAt(file, 4096, 4)]).to.deep.equal([0xde, 0xad, 0xbe, 0xef]);
    expect(
      region.read(4096, 4).every((b) => b === 0),
      'the region is untouched',
    ).to.equal(true);
  });

  it('should refuse nodev without a bound file, window for a header of another pair, and a second device grant on one file', () => {
    const f = device.open();
    const refusal = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        expect(e).to.be.instanceOf(TransportError);
        return (e as { reason?: string }).reason ?? '';
      }
      return 'accepted';
    };
    const g = deviceGrant(f.nonce, 0x77n);
    expect(refusal(() => f.presentGrant(g.token, g.tag))).to.equal('nodev');
    device.bindChannelDevice(deviceFile(dir, 0x77n));
    expect(refusal(() => f.presentGrant(g.token, g.tag))).to.equal('accepted');
    device.bindChannelDevice(deviceFile(dir, 0x78n));
    const second = deviceGrant(f.nonce, 0x78n, 2n);
    expect(refusal(() => f.presentGrant(second.token, second.tag))).to.equal('overlap');
    // the header makes VM 2 the consumer: a provider grant for VM 2 does not match it
    const other = device.open();
    const wrongRole = deviceGrant(other.nonce, 0x78n, 3n, 'provider');
    expect(refusal(() => other.presentGrant(wrongRole.token, wrongRole.tag))).to.equal('window');
  });

  it('should refuse a file that is not a channel device, and forget the binding on revoke', () => {
    const bogus = path.join(dir, 'bogus.chan');
    writeFileSync(bogus, new Uint8Array(65536));
    expect(() => device.bindChannelDevice(bogus)).to.throw(TransportError, /not a channel device/);
    device.bindChannelDevice(deviceFile(dir, 0x77n));
    const f = device.open();
    const g = deviceGrant(f.nonce, 0x77n);
    f.presentGrant(g.token, g.tag);
    const revoke = signRevoke(nodeBackend, KEY, {
      epoch: 3n,
      revokeSerial: 1n,
      vmId: 2,
      channelId: 0x77n,
    });
    device.revoke(revoke.token, revoke.tag);
    expect(() => f.mapWindow(0x77n)).to.throw(TransportError, /no grant/);
  });
});
