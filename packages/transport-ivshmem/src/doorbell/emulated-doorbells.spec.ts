import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TransportError } from '../errors/transport-error.js';
import { IvshmemServer } from '../ivshmem-server/ivshmem-server.js';
import type { ChannelDevice } from '../device/channel-device.js';
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

  describe('.waker', () => {
    it('should wake a channel of another VM that sleeps on its own vector', async () => {
      const a = await connect();
      const b = await connect();
      await peersKnown(a, 1);
      const sleeping = b.waker().wait(5000);
      a.waker().wake();
      expect(await sleeping).to.equal(true);
      expect(b.received).to.be.greaterThan(0);
    });

    it('should wake every channel of the woken VM, and report a ring that came before the wait', async () => {
      const a = await connect();
      const b = await connect();
      await peersKnown(a, 1);
      const w1 = b.waker();
      const w2 = b.waker();
      const both = Promise.all([w1.wait(5000), w2.wait(5000)]);
      a.waker().wake();
      expect(await both).to.deep.equal([true, true]);
      const w3 = b.waker();
      a.waker().wake();
      const deadline = Date.now() + 5000;
      while (b.received < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(await w3.wait(5000)).to.equal(true);
    });

    it('should ring only the named peer when given its id, and every peer without one', async () => {
      const a = await connect();
      const b = await connect();
      const c = await connect();
      await peersKnown(a, 2);
      const toB = b.waker().wait(5000);
      a.waker(b.id).wake();
      expect(await toB).to.equal(true);
      // c is not rung by a waker addressed to b: a bounded wait for a ring that must not come.
      expect(await c.waker().wait(200)).to.equal(false);
      expect(c.received).to.equal(0);
      const both = Promise.all([b.waker().wait(5000), c.waker().wait(5000)]);
      a.waker().wake();
      expect(await both).to.deep.equal([true, true]);
    });

    it('should drop a ring to a peer id that is not connected', async () => {
      const a = await connect();
      expect(() => a.waker(0xfff0).wake()).to.not.throw();
      expect(a.received).to.equal(0);
    });

    it('should time out with false when nobody rings, and resolve false on close', async () => {
      const b = await connect();
      const w = b.waker();
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
