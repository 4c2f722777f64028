// The ivshmem server with clients in separate processes. This file is both the mocha spec and,
// started with SIVSHM_IVSHMEM_CHILD=peer, the client process the spec forks.
import { expect } from 'chai';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TransportError } from '../src/errors/transport-error.js';
import { IvshmemClient } from '../src/ivshmem-server/ivshmem-client.js';
import type { IvshmemNotification } from '../src/ivshmem-server/ivshmem-client.js';
import { encodeIvshmemMessage } from '../src/ivshmem-server/ivshmem-protocol.js';
import { IvshmemServer } from '../src/ivshmem-server/ivshmem-server.js';
import { eventfdCreate, eventfdRead } from '../src/native/eventfd.js';
import { watchReadable } from '../src/native/fd-watcher.js';
import { closeFd } from '../src/native/fd.js';
import { createRegionFile, mapFile, memfdCreate, unmap } from '../src/native/map-file.js';
import { UnixListener } from '../src/native/unix-listener.js';
import { UnixStream } from '../src/native/unix-stream.js';

const SELF = fileURLToPath(import.meta.url);
const PAGE = 4096;
const MAGIC = 0x51_5e_d0_0b;

type Msg = Record<string, unknown> & { type: string };

/** Child: an IvshmemClient driven by the parent over IPC. */
async function runPeer(socketPath: string): Promise<void> {
  const client = await IvshmemClient.connect(socketPath, { vectors: 2, timeoutMs: 10_000 });
  const region = mapFile(client.shmFd, 0, PAGE, { writable: true });
  const words = new Int32Array(region.shared);
  const notifications: IvshmemNotification[] = [];
  client.notifications$.subscribe((n) => {
    notifications.push(n);
    process.send?.({ type: 'notify', vector: n.vector, count: n.count.toString() });
  });
  client.peerEvents$.subscribe({
    next: (e) => process.send?.({ type: 'peer', event: e.type, id: e.id }),
    error: (e: Error) => process.send?.({ type: 'dropped', message: e.message }),
    complete: () => process.send?.({ type: 'server-gone', code: client.error?.code }),
  });
  process.on('message', (m: Msg) => {
    switch (m.type) {
      case 'ring':
        client.ring(m.peer as number, m.vector as number);
        process.send?.({ type: 'rang' });
        break;
      case 'state':
        process.send?.({
          type: 'state',
          id: client.id,
          peers: client.peerIds(),
          vectors: notifications.map((n) => n.vector),
        });
        break;
      case 'close':
        unmap(region.handle);
        client.close();
        process.exit(0);
    }
  });
  process.send?.({
    type: 'ready',
    id: client.id,
    peers: client.peerIds(),
    magic: Atomics.load(words, 0),
    own: client.ownEventfds.length,
  });
}

if (process.env.SIVSHM_IVSHMEM_CHILD === 'peer') {
  try {
    await runPeer(process.argv[2] ?? '');
  } catch (e) {
    console.error(e);
    process.exit(3);
  }
} else {
  describe('IvshmemServer', function () {
    this.timeout(20_000);
    const socketPath = `/tmp/sivshm-ivshmem-int-${process.pid}.sock`;
    const shmPath = `/dev/shm/sivshm-ivshmem-int-${process.pid}`;
    const children: ChildProcess[] = [];
    let server: IvshmemServer | undefined;

    /** A forked client with a queue of the messages it sent. */
    class Peer {
      readonly proc: ChildProcess;
      readonly #queue: Msg[] = [];
      readonly #waiters: Array<() => void> = [];

      constructor() {
        this.proc = fork(SELF, [socketPath], {
          env: { ...process.env, SIVSHM_IVSHMEM_CHILD: 'peer' },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        children.push(this.proc);
        this.proc.on('message', (m) => {
          this.#queue.push(m as Msg);
          for (const w of this.#waiters.splice(0)) w();
        });
        this.proc.on('exit', () => {
          for (const w of this.#waiters.splice(0)) w();
        });
      }

      /** Next message of `type` (earlier messages of other types stay queued). */
      async next(type: string, ms = 10_000): Promise<Msg> {
        const deadline = Date.now() + ms;
        for (;;) {
          const i = this.#queue.findIndex((m) => m.type === type);
          if (i >= 0) return this.#queue.splice(i, 1)[0] as Msg;
          if (this.proc.exitCode !== null) throw new Error(`peer exited before '${type}'`);
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`peer sent no '${type}' in ${ms} ms`);
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, left);
            this.#waiters.push(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
      }

      has(type: string): boolean {
        return this.#queue.some((m) => m.type === type);
      }

      async request(m: Msg, reply: string): Promise<Msg> {
        this.proc.send(m);
        return this.next(reply);
      }

      async close(): Promise<void> {
        const exited = new Promise((r) => this.proc.once('exit', r));
        this.proc.send({ type: 'close' });
        await exited;
      }
    }

    const fdCount = () => readdirSync('/proc/self/fd').length;

    beforeEach(() => {
      closeFd(createRegionFile(shmPath, 4 * PAGE));
      const m = mapFile(shmPath, 0, PAGE, { writable: true });
      Atomics.store(new Int32Array(m.shared), 0, MAGIC);
      unmap(m.handle);
    });

    /**
     * Kills the peers a test left and waits until each is gone with its IPC channel: the
     * parent closes its end of that channel only once it has seen the child go, and on a
     * loaded machine that can be well into the next test, where it would change an fd count.
     */
    afterEach(async () => {
      await Promise.all(
        children.splice(0).map(async (c) => {
          const closed = new Promise((r) => c.once('close', r));
          if (c.exitCode === null && c.signalCode === null) c.kill();
          else if (!c.connected) return;
          await closed;
        }),
      );
      server?.close();
      server = undefined;
      unlinkSync(shmPath);
    });

    describe('.listen', () => {
      it('should give each client in its own process an id, the region and the peers vectors', async () => {
        const joined: number[] = [];
        server = IvshmemServer.listen({
          socketPath,
          shm: { path: shmPath, size: 4 * PAGE },
          vectors: 2,
          onPeerJoined: (id) => joined.push(id),
        });
        const a = new Peer();
        const readyA = await a.next('ready');
        expect(readyA).to.include({ id: 0, magic: MAGIC, own: 2 });
        expect(readyA.peers).to.deep.equal([]);

        const b = new Peer();
        const readyB = await b.next('ready');
        expect(readyB).to.include({ id: 1, magic: MAGIC, own: 2 });
        expect(readyB.peers).to.deep.equal([0]);
        expect(await a.next('peer')).to.include({ event: 'joined', id: 1 });
        expect(joined).to.deep.equal([0, 1]);
        expect(server.peerIds()).to.deep.equal([0, 1]);
      });

      it('should let client A ring vector 1 of client B without touching vector 0', async () => {
        server = IvshmemServer.listen({
          socketPath,
          shm: { path: shmPath, size: 4 * PAGE },
          vectors: 2,
        });
        const a = new Peer();
        await a.next('ready');
        const b = new Peer();
        await b.next('ready');
        await a.next('peer');
        await a.request({ type: 'ring', peer: 1, vector: 1 }, 'rang');
        expect(await b.next('notify')).to.include({ vector: 1, count: '1' });
        // Give a stray vector-0 wake-up time to show before asking for B's full log.
        await new Promise((r) => setTimeout(r, 100));
        const state = await b.request({ type: 'state' }, 'state');
        expect(state.vectors).to.deep.equal([1]);
        const stateA = await a.request({ type: 'state' }, 'state');
        expect(stateA.vectors).to.deep.equal([]);
      });

      it('should announce a leave, then hand a new id to the client that joins next', async () => {
        const left: number[] = [];
        server = IvshmemServer.listen({
          socketPath,
          shm: { path: shmPath, size: 4 * PAGE },
          vectors: 2,
          onPeerLeft: (id) => left.push(id),
        });
        const a = new Peer();
        await a.next('ready');
        const b = new Peer();
        await b.next('ready');
        expect(await a.next('peer')).to.include({ event: 'joined', id: 1 });
        await b.close();
        expect(await a.next('peer')).to.include({ event: 'left', id: 1 });
        expect(left).to.deep.equal([1]);
        expect((await a.request({ type: 'state' }, 'state')).peers).to.deep.equal([]);

        const c = new Peer();
        const readyC = await c.next('ready');
        // Round-robin: id 1 is free again but comes back only after the others.
        expect(readyC.id).to.equal(2);
        expect(readyC.peers).to.deep.equal([0]);
        expect(await a.next('peer')).to.include({ event: 'joined', id: 2 });
        await a.request({ type: 'ring', peer: 2, vector: 0 }, 'rang');
        expect(await c.next('notify')).to.include({ vector: 0 });
      });

      it('should survive clients that hang up mid-handshake or send junk', async () => {
        const joined: number[] = [];
        const left: number[] = [];
        server = IvshmemServer.listen({
          socketPath,
          shm: { memfdSize: 4 * PAGE },
          vectors: 2,
          onPeerJoined: (id) => joined.push(id),
          onPeerLeft: (id) => left.push(id),
        });
        const a = new Peer();
        await a.next('ready');
        // Connects and hangs up before the server has written anything.
        (await UnixStream.connect(socketPath)).close();
        // Reads only the version, then hangs up.
        await new Promise<void>((resolve, reject) => {
          void UnixStream.connect(socketPath, {
            onReadable: (s) => {
              if (s.recv(8, 0) !== undefined) {
                s.close();
                resolve();
              }
            },
          }).catch(reject);
        });
        // Sends bytes and fds the protocol does not have, then stays connected.
        const efd = eventfdCreate();
        const junk = await UnixStream.connect(socketPath);
        junk.send(new Uint8Array([1, 2, 3, 4, 5]), [efd]);
        closeFd(efd);
        await new Promise((r) => setTimeout(r, 100));

        const b = new Peer();
        const readyB = await b.next('ready');
        expect(server.listening).to.equal(true);
        // Only the well-behaved peer A and the junk sender are connected besides B.
        expect(server.peerIds()).to.have.length(3);
        expect(readyB.peers).to.include(0);
        await a.request({ type: 'ring', peer: readyB.id, vector: 1 }, 'rang');
        expect(await b.next('notify')).to.include({ vector: 1 });
        // Every leave reported belongs to a peer whose join was reported before.
        expect(left.every((id) => joined.includes(id))).to.equal(true);
        junk.close();
      });

      it('should refuse connections beyond maxPeers and accept again after a leave', async () => {
        server = IvshmemServer.listen({
          socketPath,
          shm: { memfdSize: PAGE },
          vectors: 1,
          maxPeers: 1,
        });
        const first = await IvshmemClient.connect(socketPath, { timeoutMs: 5000 });
        try {
          await IvshmemClient.connect(socketPath, { timeoutMs: 5000 });
          expect.fail('a second client was accepted beyond maxPeers');
        } catch (e) {
          expect(TransportError.is(e) && e.code).to.equal('ERR_PEER_GONE');
        }
        first.close();
        await new Promise((r) => setTimeout(r, 50));
        const again = await IvshmemClient.connect(socketPath, { timeoutMs: 5000 });
        expect(again.id).to.equal(1);
        again.close();
      });

      it('should leave the own eventfds to the caller when watchVectors is false', async () => {
        server = IvshmemServer.listen({ socketPath, shm: { memfdSize: PAGE }, vectors: 2 });
        const quiet = await IvshmemClient.connect(socketPath, { vectors: 2, watchVectors: false });
        const ringer = await IvshmemClient.connect(socketPath, { vectors: 2 });
        try {
          const own = quiet.ownEventfds[1] as number;
          const woke = new Promise<bigint>((resolve) => {
            const w = watchReadable(own, () => {
              w.stop();
              resolve(eventfdRead(own));
            });
          });
          ringer.ring(quiet.id, 1);
          expect(await woke).to.equal(1n);
          expect(eventfdRead(quiet.ownEventfds[0] as number)).to.equal(0n);
        } finally {
          quiet.close();
          ringer.close();
        }
      });

      it('should reject bad options with ERR_BAD_ARGUMENT', () => {
        const shm = { memfdSize: PAGE };
        for (const bad of [
          () => IvshmemServer.listen({ socketPath: '', shm }),
          () => IvshmemServer.listen({ socketPath, shm, vectors: 0 }),
          () => IvshmemServer.listen({ socketPath, shm, vectors: 65 }),
          () => IvshmemServer.listen({ socketPath, shm, maxPeers: 70_000 }),
          () => IvshmemServer.listen({ socketPath, shm: {} as { memfdSize: number } }),
          () => IvshmemServer.listen({ socketPath, shm: { memfdSize: 3 * PAGE } }),
          () => IvshmemServer.listen({ socketPath, shm: { memfdSize: 1024 } }),
          () => IvshmemServer.listen({ socketPath, shm: { path: shmPath, size: 3 * PAGE } }),
        ]) {
          expect(bad).to.throw(TransportError).with.property('code', 'ERR_BAD_ARGUMENT');
        }
        const odd = memfdCreate('sivshm-odd', 3 * PAGE);
        const before = fdCount();
        try {
          expect(() => IvshmemServer.listen({ socketPath, shm: { fd: odd } }))
            .to.throw(TransportError, /power of two/)
            .with.property('code', 'ERR_BAD_ARGUMENT');
          expect(fdCount()).to.equal(before);
        } finally {
          closeFd(odd);
        }
      });
    });

    describe('.close', () => {
      it('should close every fd it held and end the clients streams', async () => {
        const before = fdCount();
        server = IvshmemServer.listen({ socketPath, shm: { memfdSize: PAGE }, vectors: 3 });
        const a = await IvshmemClient.connect(socketPath, { vectors: 3 });
        const b = await IvshmemClient.connect(socketPath, { vectors: 3 });
        expect(b.peerIds()).to.deep.equal([a.id]);
        const gone = new Promise<void>((resolve) =>
          a.peerEvents$.subscribe({ complete: () => resolve() }),
        );
        server.close();
        server = undefined;
        await gone;
        expect(a.closed).to.equal(true);
        expect(a.error?.code).to.equal('ERR_PEER_GONE');
        b.close();
        // The clients' streams end in the event loop: wait (bounded) for their fds to go.
        for (const end = Date.now() + 5000; fdCount() !== before && Date.now() < end;)
          await new Promise((r) => setTimeout(r, 20));
        expect(fdCount()).to.equal(before);
      });
    });
  });

  describe('IvshmemClient', function () {
    this.timeout(10_000);
    const socketPath = `/tmp/sivshm-ivshmem-client-${process.pid}.sock`;

    /** A fake server that sends the given messages (value, optional fd) to each client. */
    const fakeServer = (messages: Array<[number, number?]>) => {
      const streams: UnixStream[] = [];
      const listener = UnixListener.listen(socketPath, {
        onConnection: (accept) => {
          const s = accept();
          streams.push(s);
          for (const [v, fd] of messages)
            s.send(encodeIvshmemMessage(v), fd === undefined ? [] : [fd]);
        },
      });
      return () => {
        for (const s of streams) s.close();
        listener.close();
      };
    };

    const expectProtocolError = async (messages: Array<[number, number?]>, pattern: RegExp) => {
      const stop = fakeServer(messages);
      try {
        await IvshmemClient.connect(socketPath, { timeoutMs: 3000 });
        expect.fail('the client accepted a malformed server');
      } catch (e) {
        if (!TransportError.is(e)) throw e;
        expect(e.code).to.equal('ERR_PROTOCOL');
        expect(e.message).to.match(pattern);
      } finally {
        stop();
      }
    };

    describe('.connect', () => {
      it('should refuse a protocol version other than 0', async () => {
        await expectProtocolError([[1]], /unsupported protocol version 1/);
      });

      it('should refuse an id outside 0..65535', async () => {
        await expectProtocolError([[0], [70_000]], /invalid client id 70000/);
      });

      it('should refuse a missing shared-memory fd', async () => {
        await expectProtocolError([[0], [3], [-1]], /shared-memory fd/);
      });

      it('should time out when the server stops mid-handshake', async () => {
        const stop = fakeServer([[0], [3]]);
        try {
          await IvshmemClient.connect(socketPath, { timeoutMs: 300 });
          expect.fail('connect resolved without a handshake');
        } catch (e) {
          expect(TransportError.is(e) && e.code).to.equal('ERR_TIMEOUT');
        } finally {
          stop();
        }
      });

      it('should fail with ENOENT when no server listens', async () => {
        try {
          await IvshmemClient.connect('/tmp/sivshm-nobody-listens.sock');
          expect.fail('connected to nothing');
        } catch (e) {
          expect(TransportError.is(e) && e.errnoName).to.equal('ENOENT');
        }
      });
    });
  });
}
