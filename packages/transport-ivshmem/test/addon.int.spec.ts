// Multi-process tests of the native addon. The file is both the mocha spec and, when started
// with SIVSHM_ADDON_CHILD=<role>, the child process the spec forks (so the helper compiles and
// runs exactly like the spec, from src with tsx or from dist).
import { expect } from 'chai';
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { addonPath } from '../src/native/addon.js';
import { TransportError } from '../src/errors/transport-error.js';
import { eventfdCreate, eventfdRead, eventfdWrite } from '../src/native/eventfd.js';
import { closeFd, ioctl, openFd } from '../src/native/fd.js';
import { watchReadable } from '../src/native/fd-watcher.js';
import { createRegionFile, liveMappingCount, mapFile, unmap } from '../src/native/map-file.js';
import { recvWithFds, sendFds, unixSocketPair } from '../src/native/unix-socket.js';
import { UnixListener } from '../src/native/unix-listener.js';
import { UnixStream } from '../src/native/unix-stream.js';

const SELF = fileURLToPath(import.meta.url);
const PAGE = 4096;
const ROUNDS = 2000;

type Msg = Record<string, unknown> & { type: string };

function send(msg: Msg): void {
  process.send?.(msg);
}

/** Child side: one function per role. Each ends by exiting the process. */
const roles: Record<string, (arg: string) => Promise<void> | void> = {
  // Maps the region and answers each round the parent writes into word 0 with word 1.
  async mapper(path) {
    const m = mapFile(path, 0, PAGE, { writable: true });
    const words = new Int32Array(m.shared);
    send({ type: 'mapped' });
    const deadline = Date.now() + 15_000;
    for (let round = 1; round <= ROUNDS; round++) {
      let spins = 0;
      while (Atomics.load(words, 0) !== round) {
        if (++spins % 4096 === 0) {
          if (Date.now() > deadline) throw new Error(`round ${round} never came`);
          await new Promise((r) => setImmediate(r));
        }
      }
      // Bulk data written by the parent through its non-shared alias, read through ours.
      const payload = new Uint8Array(m.bulk, 64, 16)[round % 16];
      Atomics.store(words, 1, round + (payload ?? 0) * 0x10000);
    }
    unmap(m.handle);
    send({ type: 'done' });
  },

  // Connects to the parent's listener, receives an eventfd and reports when it is rung.
  async eventfdReceiver(socketPath) {
    const fds: number[] = [];
    const stream = await UnixStream.connect(socketPath, {
      onReadable: (s) => {
        const got = s.recv(16, 4);
        if (got === undefined || got === null) return;
        fds.push(...got.fds);
        const efd = got.fds[0];
        if (efd === undefined) throw new Error('no fd arrived with the message');
        const w = watchReadable(efd, () => {
          const n = eventfdRead(efd);
          send({ type: 'woken', count: n.toString(), text: new TextDecoder().decode(got.data) });
          w.stop();
          closeFd(efd);
          s.close();
        });
        send({ type: 'watching' });
      },
    });
    void stream;
  },

  // Maps, unmaps, proves the bulk alias is detached, then touches the shared view.
  staleAccess(path) {
    const m = mapFile(path, 0, PAGE, { writable: true });
    const shared = new Int32Array(m.shared);
    Atomics.store(shared, 0, 1);
    unmap(m.handle);
    process.stdout.write(`bulk=${m.bulk.byteLength}\n`);
    // The range is now PROT_NONE: this access must fault (SIGSEGV), not read stale memory.
    const v = Atomics.load(shared, 0);
    process.stdout.write(`read=${v}\n`);
  },

  // A watcher that was stopped, and one that was unref()ed, must let the process exit.
  idleWatchers() {
    const a = eventfdCreate();
    const b = eventfdCreate();
    watchReadable(a, () => undefined).stop();
    watchReadable(b, () => undefined).unref();
    process.stdout.write('armed\n');
  },

  // 1000 cycles of every resource kind; reports fd and mapping counts before and after.
  async leaks(path) {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error('run with --expose-gc');
    const count = () => ({
      fds: readdirSync('/proc/self/fd').length,
      maps: readFileSync('/proc/self/maps', 'utf8').split('\n').length,
      regions: liveMappingCount(),
    });
    const settle = async () => {
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const cycle = async () => {
      const m = mapFile(path, 0, PAGE, { writable: true });
      new Uint8Array(m.bulk)[0] = 1;
      unmap(m.handle);
      const efd = eventfdCreate();
      const [x, y] = unixSocketPair('stream');
      sendFds(x, new Uint8Array([1]), [efd]);
      const got = recvWithFds(y, 4, 2);
      for (const fd of got?.fds ?? []) closeFd(fd);
      const w = watchReadable(y, () => undefined);
      w.stop();
      closeFd(x);
      closeFd(y);
      closeFd(efd);
    };
    for (let i = 0; i < 20; i++) await cycle(); // warm up lazily created V8/libuv state
    await settle();
    const before = count();
    for (let i = 0; i < 1000; i++) {
      await cycle();
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    await settle();
    send({ type: 'counts', before, after: count() });
  },
};

const childRole = process.env.SIVSHM_ADDON_CHILD;
if (childRole !== undefined) {
  const role = roles[childRole];
  if (role === undefined) throw new Error(`unknown child role ${childRole}`);
  try {
    await role(process.argv[2] ?? '');
  } catch (e) {
    console.error(e);
    process.exit(3);
  }
} else {
  describe('native addon (multi-process)', function () {
    this.timeout(20_000);
    const region = `/dev/shm/sivshm-addon-int-${process.pid}`;
    const children: ChildProcess[] = [];

    const forkChild = (role: string, arg: string, execArgv: string[] = []) => {
      const child = fork(SELF, [arg], {
        env: { ...process.env, SIVSHM_ADDON_CHILD: role },
        execArgv: [...process.execArgv, ...execArgv],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      return child;
    };
    const waitFor = (child: ChildProcess, type: string, ms = 15_000): Promise<Msg> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child: no '${type}' in ${ms} ms`)), ms);
        const onMsg = (m: unknown) => {
          if ((m as Msg).type !== type) return;
          clearTimeout(timer);
          child.off('message', onMsg);
          child.off('exit', onExit);
          resolve(m as Msg);
        };
        const onExit = (code: number | null) => {
          clearTimeout(timer);
          reject(new Error(`child exited (${code}) before sending '${type}'`));
        };
        child.on('message', onMsg);
        child.once('exit', onExit);
      });
    const exitOf = (child: ChildProcess, ms = 15_000) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve({ code: child.exitCode, signal: child.signalCode });
          return;
        }
        const timer = setTimeout(() => reject(new Error(`child did not exit in ${ms} ms`)), ms);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal });
        });
      });

    beforeEach(() => {
      closeFd(createRegionFile(region, 4 * PAGE));
    });

    afterEach(() => {
      for (const c of children.splice(0))
        if (c.exitCode === null && c.signalCode === null) c.kill();
      unlinkSync(region);
    });

    describe('.mapFile', () => {
      it('should let two processes exchange words through the same /dev/shm file', async () => {
        const m = mapFile(region, 0, PAGE, { writable: true });
        const words = new Int32Array(m.shared);
        const bulk = new Uint8Array(m.bulk, 64, 16);
        const child = forkChild('mapper', region);
        await waitFor(child, 'mapped');
        const deadline = Date.now() + 15_000;
        for (let round = 1; round <= ROUNDS; round++) {
          bulk[round % 16] = round & 0x7f;
          Atomics.store(words, 0, round);
          const want = round + (round & 0x7f) * 0x10000;
          let spins = 0;
          while (Atomics.load(words, 1) !== want) {
            if (++spins % 4096 === 0) {
              if (Date.now() > deadline) throw new Error(`no answer to round ${round}`);
              await new Promise((r) => setImmediate(r));
            }
          }
        }
        await waitFor(child, 'done');
        expect(Atomics.load(words, 1)).to.equal(ROUNDS + (ROUNDS & 0x7f) * 0x10000);
        unmap(m.handle);
        expect((await exitOf(child)).code).to.equal(0);
      });
    });

    describe('worker threads', () => {
      it('should load in a worker and share a mapping with the main thread', async () => {
        const m = mapFile(region, 0, PAGE, { writable: true });
        const words = new Int32Array(m.shared);
        // The worker loads the binary itself (context-aware addon) and maps the same file.
        const worker = new Worker(
          `const { workerData, parentPort } = require('node:worker_threads');
           const addon = require(workerData.addon);
           const m = addon.mapFile(workerData.region, 0, 4096, { writable: true });
           Atomics.store(new Int32Array(m.shared), 2, 0x5eed);
           addon.unmap(m.handle);
           parentPort.postMessage('stored');`,
          { eval: true, workerData: { addon: addonPath(), region } },
        );
        try {
          const msg = await new Promise((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
          });
          expect(msg).to.equal('stored');
          expect(Atomics.load(words, 2)).to.equal(0x5eed);
        } finally {
          await worker.terminate();
          unmap(m.handle);
        }
      });
    });

    describe('.sendFds', () => {
      it('should pass an eventfd over a Unix socket that wakes watchReadable in the other process', async () => {
        const socketPath = `/tmp/sivshm-addon-int-${process.pid}.sock`;
        const efd = eventfdCreate();
        const accepted: UnixStream[] = [];
        const listener = UnixListener.listen(socketPath, {
          onConnection: (accept) => {
            const s = accept();
            accepted.push(s);
            s.send(new TextEncoder().encode('doorbell'), [efd]);
          },
        });
        try {
          const child = forkChild('eventfdReceiver', socketPath);
          await waitFor(child, 'watching');
          eventfdWrite(efd, 7);
          const woken = await waitFor(child, 'woken');
          expect(woken.count).to.equal('7');
          expect(woken.text).to.equal('doorbell');
          expect((await exitOf(child)).code).to.equal(0);
        } finally {
          for (const s of accepted) s.close();
          listener.close();
          closeFd(efd);
        }
      });
    });

    describe('.unmap', () => {
      it('should make a stale SharedArrayBuffer access fault instead of reading memory', async () => {
        // sh lowers the core-size limit so the expected crash leaves no core file behind.
        const child = spawn(
          '/bin/sh',
          [
            '-c',
            'ulimit -c 0; exec "$0" "$@"',
            process.execPath,
            ...process.execArgv,
            SELF,
            region,
          ],
          {
            env: { ...process.env, SIVSHM_ADDON_CHILD: 'staleAccess' },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        children.push(child);
        let out = '';
        child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr?.resume();
        const { signal } = await exitOf(child);
        expect(out).to.contain('bulk=0');
        expect(out).not.to.contain('read=');
        expect(signal).to.equal('SIGSEGV');
      });
    });

    describe('.watchReadable', () => {
      it('should not keep the process alive once stopped or unref()ed', async () => {
        const child = spawn(process.execPath, [...process.execArgv, SELF], {
          env: { ...process.env, SIVSHM_ADDON_CHILD: 'idleWatchers' },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        children.push(child);
        let out = '';
        child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        const { code } = await exitOf(child, 10_000);
        expect(out).to.contain('armed');
        expect(code).to.equal(0);
      });
    });

    describe('resource cycles', () => {
      it('should leak no fd and no mapping over 1000 map/eventfd/socket/watch cycles', async function () {
        this.timeout(60_000);
        const child = forkChild('leaks', region, ['--expose-gc']);
        const m = await waitFor(child, 'counts', 55_000);
        const { before, after } = m as unknown as {
          before: { fds: number; maps: number; regions: number };
          after: { fds: number; maps: number; regions: number };
        };
        expect(after.fds).to.equal(before.fds);
        // Every unmapped range's PROT_NONE reservation is released once V8 collected its
        // buffers (one may still be referenced from the last loop iteration's frame).
        expect(after.regions - before.regions).to.be.at.most(1);
        // V8 may grow its own heap mappings a little; 1000 leaked mappings would show as ~1000.
        expect(after.maps - before.maps).to.be.lessThan(20);
        expect((await exitOf(child)).code).to.equal(0);
      });
    });

    describe('errors', () => {
      it('should report failed calls as ERR_SYSCALL with errno and the call name', () => {
        const cases: Array<[() => unknown, string, string]> = [
          [() => eventfdWrite(1_000_000, 1), 'write', 'EBADF'],
          [() => eventfdRead(1_000_000), 'read', 'EBADF'],
          [() => closeFd(1_000_000), 'close', 'EBADF'],
          [() => openFd('/dev/shm/sivshm-missing/x', 0), 'open', 'ENOENT'],
          [() => ioctl(1_000_000, 0x1234), 'ioctl', 'EBADF'],
        ];
        for (const [call, syscall, errnoName] of cases) {
          try {
            call();
            expect.fail(`${syscall} did not throw`);
          } catch (e) {
            if (!TransportError.is(e)) throw e;
            expect(e.code).to.equal('ERR_SYSCALL');
            expect(e.syscall).to.equal(syscall);
            expect(e.errnoName).to.equal(errnoName);
            expect(e.errno).to.be.a('number').greaterThan(0);
            expect(e.message).to.match(new RegExp(`^${syscall} failed: ${errnoName} \\(`));
          }
        }
      });

      it('should refuse a second watcher on the same fd until the first is stopped', () => {
        const efd = eventfdCreate();
        const first = watchReadable(efd, () => undefined);
        try {
          expect(() => watchReadable(efd, () => undefined))
            .to.throw(TransportError, /already watched/)
            .with.property('code', 'ERR_BAD_ARGUMENT');
          first.stop();
          watchReadable(efd, () => undefined).stop();
        } finally {
          first.stop();
          closeFd(efd);
        }
      });

      it('should report an ioctl the device does not know as ENOTTY', () => {
        const efd = eventfdCreate();
        try {
          expect(() => ioctl(efd, 0x4004_aa01, new Uint8Array(4)))
            .to.throw(TransportError)
            .with.property('errnoName', 'ENOTTY');
        } finally {
          closeFd(efd);
        }
      });

      it('should reject bad arguments before any system call', () => {
        const bad: Array<() => unknown> = [
          () => eventfdWrite(-1, 1),
          () => eventfdWrite(3, 0),
          () => eventfdWrite(3, 2n ** 64n),
          () => eventfdCreate({ semaphore: 1 as unknown as boolean }),
          () => sendFds(3, new Uint8Array(0), []),
          () => sendFds(3, new Uint8Array(1), [-5]),
          () => recvWithFds(3, 0, 1),
          () => watchReadable(3, undefined as unknown as () => void),
          () => ioctl(3, -1),
          () => unixSocketPair('raw' as 'stream'),
        ];
        for (const call of bad) {
          expect(call).to.throw(TransportError).with.property('code', 'ERR_BAD_ARGUMENT');
        }
      });
    });

    describe('.recvWithFds', () => {
      it('should flag fds that did not fit and still hand over the ones that did', () => {
        const [a, b] = unixSocketPair('seqpacket');
        const e1 = eventfdCreate();
        const e2 = eventfdCreate();
        try {
          sendFds(a, new Uint8Array([9]), [e1, e2]);
          const got = recvWithFds(b, 8, 1);
          expect(got?.truncated).to.equal(true);
          expect(got?.fds).to.have.length(1);
          for (const fd of got?.fds ?? []) closeFd(fd);
          expect(recvWithFds(b, 8, 1)).to.equal(undefined);
        } finally {
          for (const fd of [a, b, e1, e2]) closeFd(fd);
        }
      });
    });
  });
}
