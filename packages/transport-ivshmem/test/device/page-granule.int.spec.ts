// The page-granule rule of sivshm.ko (docs/protocol.md, layout version 2) as emulated mode
// applies it: a region laid out for a granule smaller than the kernel's page is refused with a
// clear error before any grant, and a channel of a 16 KiB-granule region runs on a 16 KiB kernel.
import { expect } from 'chai';
import { windowLayout, type GrantRoleName, type PageGranule } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { DataPlane } from '../../src/channel/data-plane.js';
import { EmulatedDevice } from '../../src/device/emulated-device.js';
import { TransportError } from '../../src/errors/transport-error.js';
import { LocalWaker } from '../../src/notify/local-waker.js';
import { createRegionFixture, type RegionFixture } from './region-fixture.js';
import { signTestGrant } from './test-grant.js';

const R = protobuf
  .parse('syntax = "proto3"; package g; message R { uint32 n = 1; }')
  .root.lookupType('g.R');
const KEYS = { consumer: new Uint8Array(32).fill(7), provider: new Uint8Array(32).fill(8) };
const VMS = { consumer: 2, provider: 1 };
const CHANNEL = 0x6a9n;

describe('page granule (emulated sivshm.ko)', () => {
  let region: RegionFixture | undefined;
  afterEach(() => region?.remove());

  const device = (role: GrantRoleName, kernelPageSize: 4096 | 16384 | 65536): EmulatedDevice =>
    new EmulatedDevice({
      regionPath: region!.path,
      vmId: VMS[role],
      grantKey: KEYS[role],
      kernelPageSize,
    });

  function grantFor(role: GrantRoleName, kn: Uint8Array, granule: PageGranule, serial = 1n) {
    const g = signTestGrant(KEYS[role], {
      role,
      grantSerial: serial,
      vmId: VMS[role],
      channelId: CHANNEL,
      windowOffset: region!.layout.dataOffset,
      windowLength: windowLayout(granule).windowLength(granule),
      kn,
    });
    return { channelId: CHANNEL, grantToken: g.token, grantTag: g.tag };
  }

  it('should report the kernel page size and refuse a layout v1 region on a 16 KiB kernel before the grant', async () => {
    region = createRegionFixture(1 << 20, 3n, 4096);
    const plane = new DataPlane(device('consumer', 16384));
    try {
      expect(plane.device.info()).to.deep.include({ pageSize: 16384, pageGranule: 4096 });
      const f = plane.openFile();
      const grant = grantFor('consumer', f.nonce, 4096);
      expect(() => plane.attach(f, grant))
        .to.throw(TransportError, /16 KiB pages .* set region.pageGranule to 16384/)
        .with.property('code', 'ERR_REGION');
      // the device itself refuses it too, with the kernel's verdict name
      expect(() => f.presentGrant(grant.grantToken, grant.grantTag))
        .to.throw(TransportError, /granule/)
        .with.property('reason', 'granule');
    } finally {
      await plane.close();
    }
  });

  it('should refuse a window not aligned to the region granule as layout', async () => {
    region = createRegionFixture(1 << 20, 3n, 16384);
    const dev = device('consumer', 16384);
    try {
      const f = dev.open();
      const g = signTestGrant(KEYS.consumer, {
        role: 'consumer',
        vmId: VMS.consumer,
        channelId: CHANNEL,
        windowOffset: region.layout.dataOffset + 4096,
        windowLength: windowLayout(16384).windowLength(16384),
        kn: f.nonce,
      });
      expect(() => f.presentGrant(g.token, g.tag))
        .to.throw(TransportError)
        .with.property('reason', 'layout');
    } finally {
      dev.close();
    }
  });

  for (const [granule, kernel] of [
    [16384, 16384],
    [65536, 16384],
    [65536, 65536],
  ] as const) {
    it(`should run a channel of a ${granule / 1024} KiB-granule region on a ${kernel / 1024} KiB kernel`, async () => {
      region = createRegionFixture(4 << 20, 3n, granule);
      expect(region.layout.dataOffset % granule).to.equal(0);
      const a = new DataPlane(device('consumer', kernel));
      const b = new DataPlane(device('provider', kernel));
      const c2p = new LocalWaker();
      const p2c = new LocalWaker();
      try {
        const fa = a.openFile();
        const fb = b.openFile();
        const ca = a.attach(fa, grantFor('consumer', fa.nonce, granule), {
          notify: 'adaptive',
          peerWaker: c2p,
          ownWaker: p2c,
        });
        const cb = b.attach(fb, grantFor('provider', fb.nonce, granule), {
          notify: 'adaptive',
          peerWaker: p2c,
          ownWaker: c2p,
        });
        const address = { service: 0x77, major: 1, client: 3 };
        b.provide(cb, address).serve<{ n: number }, { n: number }>(1, R, R, (r) => ({
          n: r.n + 1,
        }));
        const consumer = a.consume(ca, address);
        for (let n = 0; n < 50; n++) {
          expect((await consumer.call<{ n: number }, { n: number }>(1, R, R, { n })).n).to.equal(
            n + 1,
          );
        }
        // the producer index lies one granule before the consumer index of the same direction
        const words = new DataView(region.read(region.layout.dataOffset, 2 * granule).buffer);
        expect(words.getUint32(0, true)).to.be.greaterThan(0);
        expect(words.getUint32(granule, true)).to.equal(words.getUint32(0, true));
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});
