import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout, type GrantRoleName } from '@sivshm/abi';
import protobuf from 'protobufjs';
import { firstValueFrom, take, toArray } from 'rxjs';
import { EmulatedDevice } from '../../src/device/emulated-device.js';
import { TransportError } from '../../src/errors/transport-error.js';
import { LocalWaker } from '../../src/notify/local-waker.js';
import { DataPlane } from '../../src/channel/data-plane.js';
import { createRegionFixture, type RegionFixture } from '../device/region-fixture.js';
import { signTestGrant } from '../device/test-grant.js';

const root = protobuf.parse(
  'syntax = "proto3"; package n; message V { uint32 kph = 1; } message R { uint32 n = 1; }',
).root;
const V = root.lookupType('n.V');
const R = root.lookupType('n.R');
const KEYS = { consumer: new Uint8Array(32).fill(2), provider: new Uint8Array(32).fill(1) };
const VMS = { consumer: 2, provider: 1 };

describe('DataPlane', () => {
  let region: RegionFixture;
  beforeEach(() => {
    region = createRegionFixture();
  });
  afterEach(() => region.remove());

  function planeFor(role: GrantRoleName): DataPlane {
    return new DataPlane(
      new EmulatedDevice({ regionPath: region.path, vmId: VMS[role], grantKey: KEYS[role] }),
    );
  }

  function grantFor(role: GrantRoleName, kn: Uint8Array, serial: bigint) {
    const g = signTestGrant(KEYS[role], {
      role,
      grantSerial: serial,
      vmId: VMS[role],
      channelId: 0xc0ffeen,
      windowOffset: region.layout.dataOffset,
      windowLength: WindowLayout.windowLength(16 * PAGE_SIZE),
      kn,
    });
    return { channelId: 0xc0ffeen, grantToken: g.token, grantTag: g.tag };
  }

  describe('.attach / .provide / .consume', () => {
    it('should carry events and method calls between two nodes on one granted window', async () => {
      const a = planeFor('consumer');
      const b = planeFor('provider');
      const c2p = new LocalWaker();
      const p2c = new LocalWaker();
      const fa = a.openFile();
      const fb = b.openFile();
      const ca = a.attach(fa, grantFor('consumer', fa.nonce, 1n), {
        notify: 'adaptive',
        peerWaker: c2p,
        ownWaker: p2c,
      });
      const cb = b.attach(fb, grantFor('provider', fb.nonce, 1n), {
        notify: 'adaptive',
        peerWaker: p2c,
        ownWaker: c2p,
      });
      const address = { service: 0x1234, major: 1, client: 9 };
      const provider = b.provide(cb, address);
      const consumer = a.consume(ca, address);
      provider.serve<{ n: number }, { n: number }>(1, R, R, (r) => ({ n: r.n * 2 }));
      const speeds = firstValueFrom(
        consumer.event<{ kph: number }>(0x8001, V).pipe(take(3), toArray()),
      );
      const pub = provider.publisher<{ kph: number }>(0x8001, V);
      for (const kph of [10, 20, 30]) expect(pub.publish({ kph })).to.equal(true);
      expect((await speeds).map((s) => s.kph)).to.deep.equal([10, 20, 30]);
      expect((await consumer.call<{ n: number }, { n: number }>(1, R, R, { n: 21 })).n).to.equal(
        42,
      );
      await a.close();
      await b.close();
      expect(ca.state).to.equal('closed');
      expect(() => fa.mapWindow(0xc0ffeen)).to.throw(TransportError);
      expect(() => a.openFile()).to.throw(TransportError, /closed/);
    });

    it('should answer a request that reached the ring before the provider registered its handler', async () => {
      const a = planeFor('consumer');
      const b = planeFor('provider');
      const fa = a.openFile();
      const fb = b.openFile();
      const ca = a.attach(fa, grantFor('consumer', fa.nonce, 11n), { notify: 'spin' });
      const consumer = a.consume(ca, { service: 0x1234, major: 1, client: 9 });
      const reply = consumer.call<{ n: number }, { n: number }>(1, R, R, { n: 4 }); // in the ring now
      const cb = b.attach(fb, grantFor('provider', fb.nonce, 11n), { notify: 'spin' });
      b.provide(cb, { service: 0x1234, major: 1, client: 0 }).serve<{ n: number }, { n: number }>(
        1,
        R,
        R,
        (r) => ({
          n: r.n + 1,
        }),
      );
      expect((await reply).n).to.equal(5);
      expect(cb.unhandledRecords).to.equal(0);
      await a.close();
      await b.close();
    });

    it('should refuse a grant bound to another file, and files or channels it does not own', async () => {
      const a = planeFor('consumer');
      const f1 = a.openFile();
      const f2 = a.openFile();
      expect(() => a.attach(f2, grantFor('consumer', f1.nonce, 5n))).to.throw(TransportError, /kn/);
      const other = planeFor('consumer');
      const foreign = other.openFile();
      expect(() => a.attach(foreign, grantFor('consumer', foreign.nonce, 6n))).to.throw(
        TransportError,
        /not opened by this data plane/,
      );
      await a.close();
      await other.close();
    });

    it('should close everything even when a step fails, and report it once', async () => {
      const a = planeFor('consumer');
      const f = a.openFile();
      a.attach(f, grantFor('consumer', f.nonce, 7n), { notify: 'spin' });
      const device = a.device as EmulatedDevice;
      const close = device.close.bind(device);
      device.close = () => {
        close();
        throw new Error('device close failed');
      };
      const e = await a.close().catch((x: unknown) => x);
      expect(e).to.be.instanceOf(AggregateError);
      expect((e as AggregateError).errors.map(String)).to.deep.equal([
        'Error: device close failed',
      ]);
      expect(a.channels).to.have.length(0);
    });
  });
});
