import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TransportError } from '../errors/transport-error.js';
import { IvshmemServer } from '../ivshmem-server/ivshmem-server.js';
import type { GrantDoorbellRoute } from '@sivshm/core';
import type { ChannelDevice, DeviceFile } from '../device/channel-device.js';
import { doorbellsFor } from './doorbells-for.js';
import { EmulatedDoorbells } from './emulated-doorbells.js';

describe('EmulatedDoorbells', () => {
  let dir: string;
  let server: IvshmemServer;
  const hubs: EmulatedDoorbells[] = [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-doorbell-'));
    server = IvshmemServer.listen({
      socketPath: path.join(dir, 'ivshmem.sock'),
      shm: { memfdSize: 1 << 20 },
      vectors: 2,
    });
  });

  afterEach(() => {
    for (const h of hubs.splice(0)) h.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (): Promise<EmulatedDoorbells> => {
    const h = await EmulatedDoorbells.connect(path.join(dir, 'ivshmem.sock'));
    hubs.push(h);
    return h;
  };

  /** Waits (bounded) until `hub` sees `n` other peers. */
  const peersKnown = async (hub: EmulatedDoorbells, n: number): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (hub.peerCount < n) {
      if (Date.now() > deadline) throw new Error(`hub never saw ${n} peers`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  /** A device file standing in for a granted one: only its routes matter to the doorbells. */
  const fileRouting = (
    ...routes: GrantDoorbellRoute[]
  ): DeviceFile & { routes: GrantDoorbellRoute[] } => {
    const f = {
      routes,
      nonce: new Uint8Array(16),
      presentGrant: () => {
        throw new Error('not used');
      },
      mapWindow: () => {
        throw new Error('not used');
      },
      doorbellRoutes: () => f.routes,
      close: () => undefined,
    };
    return f;
  };
  const route = (peer: number | undefined, ring: number, observe: number): GrantDoorbellRoute => ({
    peer,
    ring,
    observe,
  });

  describe('.waker', () => {
    it('should wake the channel of another VM whose grant observes the vector it was rung on', async () => {
      const a = await connect();
      const b = await connect();
      await peersKnown(a, 1);
      const sleeping = b.waker(fileRouting(route(a.id, 2, 2))).wait(5000);
      a.waker(fileRouting(route(b.id, 2, 2))).wake();
      expect(await sleeping).to.equal(true);
      expect(b.received).to.be.greaterThan(0);
    });

    it('should wake only the channels observing the rung vector, and report a ring that came before the wait', async () => {
      const a = await connect();
      const b = await connect();
      await peersKnown(a, 1);
      const on1 = b.waker(fileRouting(route(a.id, 2, 2)));
      const on0 = b.waker(fileRouting(route(a.id, 1, 1)));
      const quiet = on0.wait(300);
      const rung = on1.wait(5000);
      a.waker(fileRouting(route(b.id, 2, 2))).wake();
      expect(await rung).to.equal(true);
      // vector 0's channel is not woken by vector 1: a bounded wait for a wake that must not come
      expect(await quiet).to.equal(false);
      const later = b.waker(fileRouting(route(a.id, 1, 1)));
      a.waker(fileRouting(route(b.id, 1, 1))).wake();
      const deadline = Date.now() + 5000;
      while (b.received < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(await later.wait(5000)).to.equal(true);
    });

    it('should ring only the peer and vectors its grant routes, nobody without a route', async () => {
      const a = await connect();
      const b = await connect();
      const c = await connect();
      await peersKnown(a, 2);
      const toB = b.waker(fileRouting(route(a.id, 1, 1))).wait(5000);
      const atC = c.waker(fileRouting(route(a.id, 1, 1))).wait(300);
      a.waker(fileRouting(route(b.id, 1, 1))).wake();
      expect(await toB).to.equal(true);
      expect(await atC).to.equal(false);
      expect(c.received).to.equal(0);
      const unrouted = a.waker(fileRouting(route(undefined, 0, 1)));
      unrouted.wake();
      expect(a.ringFailures).to.equal(1);
    });

    it('should end a route at once when the grant goes (a revoke), for ringing and hearing', async () => {
      const a = await connect();
      const b = await connect();
      await peersKnown(a, 1);
      const fa = fileRouting(route(b.id, 1, 1));
      const fb = fileRouting(route(a.id, 1, 1));
      const wb = b.waker(fb);
      fb.routes = []; // b's grant was revoked: b hears nothing on vector 0 any more
      const deaf = wb.wait(300);
      a.waker(fa).wake();
      expect(await deaf).to.equal(false);
      fa.routes = []; // a's grant revoked: its waker rings nobody
      a.waker(fa).wake();
      expect(a.ringFailures).to.equal(1);
    });

    it('should drop a ring to a peer id that is not connected', async () => {
      const a = await connect();
      expect(() => a.waker(fileRouting(route(0xfff0, 1, 1))).wake()).to.not.throw();
      expect(a.received).to.equal(0);
    });

    it('should time out with false when nobody rings, and resolve false on close', async () => {
      const b = await connect();
      const w = b.waker(fileRouting(route(0, 1, 1)));
      expect(await w.wait(20)).to.equal(false);
      const pending = w.wait(5000);
      w.close();
      expect(await pending).to.equal(false);
      expect(await w.wait(5000)).to.equal(false);
    });
  });

  describe('doorbellsFor', () => {
    it("should take the ivshmem server's doorbells for a device that is not sivshm.ko's", async () => {
      const emulated = {} as ChannelDevice;
      const d = await doorbellsFor(emulated, path.join(dir, 'ivshmem.sock'));
      try {
        expect(d).to.be.instanceOf(EmulatedDoorbells);
        expect(d.received).to.equal(0);
      } finally {
        d.close();
      }
    });
  });

  describe('.connect', () => {
    it('should say where it looked when no ivshmem server answers', async () => {
      const err = await EmulatedDoorbells.connect(path.join(dir, 'nothing.sock'), 500).catch(
        (e: unknown) => e,
      );
      expect(TransportError.is(err)).to.equal(true);
      expect((err as TransportError).code).to.equal('ERR_SYSCALL');
      expect((err as Error).message).to.match(/ivshmem server at .*nothing\.sock/);
    });
  });
});
