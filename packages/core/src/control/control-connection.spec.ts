import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ControlConnection } from './control-connection.js';
import type { ControlMessage } from './control-message.js';

/** A connected pair of Unix sockets in a temp dir. */
async function socketPair(): Promise<{ a: net.Socket; b: net.Socket; done: () => void }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-ctl-'));
  const file = path.join(dir, 'link.sock');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(file, r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const a = net.connect(file);
  const b = await accepted;
  server.close();
  return {
    a,
    b,
    done: () => {
      a.destroy();
      b.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('ControlConnection', () => {
  describe('.send', () => {
    it('should deliver messages in order to the other end', async () => {
      const { a, b, done } = await socketPair();
      try {
        const got: ControlMessage[] = [];
        const all = new Promise<void>((resolve) => {
          new ControlConnection(b, {
            onMessage: (m) => {
              got.push(m);
              if (got.length === 3) resolve();
            },
          });
        });
        const link = new ControlConnection(a, { onMessage: () => undefined });
        link.send({ kind: 'hello', version: 1, software: 't' });
        link.send({ kind: 'close', channelId: 5n });
        link.send({ kind: 'sd', message: new Uint8Array(3000).fill(7) });
        await all;
        expect(got.map((m) => m.kind)).to.deep.equal(['hello', 'close', 'sd']);
      } finally {
        done();
      }
    });
  });

  describe('maxUnsentBytes', () => {
    it('should destroy the link instead of buffering once a peer that does not read leaves more than the bound unread', async () => {
      const { a, b, done } = await socketPair();
      try {
        b.pause(); // the peer never reads
        let closeError: Error | undefined;
        const closed = new Promise<void>((resolve) => {
          const link = new ControlConnection(
            a,
            {
              onMessage: () => undefined,
              onClose: (e) => {
                closeError = e;
                resolve();
              },
            },
            { maxUnsentBytes: 256 * 1024 },
          );
          const big = { kind: 'sd', message: new Uint8Array(16 * 1024) } as const;
          // Far more than the kernel's socket buffers take: the rest waits in the stream.
          let sent = 0;
          const tick = (): void => {
            for (let i = 0; i < 64; i++) if (link.send(big)) sent++;
            if (!link.closed && sent < 4096) setImmediate(tick);
          };
          tick();
        });
        await closed;
        expect(closeError?.message).to.match(/left \d+ bytes unread/);
      } finally {
        done();
      }
    });
  });

  describe('fairness', () => {
    it('should handle a backlog a few frames per turn, in order, letting another link in between', async () => {
      const flood = await socketPair();
      const other = await socketPair();
      try {
        const order: string[] = [];
        let floodSeen = 0;
        const otherLink = new ControlConnection(other.a, { onMessage: () => undefined });
        const allFlood = new Promise<void>((resolve) => {
          new ControlConnection(flood.b, {
            onMessage: (m) => {
              if (m.kind !== 'close' || m.channelId !== BigInt(floodSeen)) {
                throw new Error(`flood frame out of order: ${String(m.kind)}`);
              }
              floodSeen++;
              order.push('flood');
              // The first flood frame triggers the other link's one frame; each flood frame
              // then costs 0.1 ms, so the backlog lasts ~200 ms.
              if (floodSeen === 1) otherLink.send({ kind: 'heartbeat', sequence: 1n, timeMs: 1n });
              const until = performance.now() + 0.1;
              while (performance.now() < until);
              if (floodSeen === 2000) resolve();
            },
          });
        });
        const otherSeen = new Promise<void>((resolve) => {
          new ControlConnection(other.b, {
            onMessage: () => {
              order.push('other');
              resolve();
            },
          });
        });
        // 2000 frames in one write, then one frame on the other link: the other link's frame
        // must not wait for the whole backlog.
        const sender = new ControlConnection(flood.a, { onMessage: () => undefined });
        for (let i = 0; i < 2000; i++) sender.send({ kind: 'close', channelId: BigInt(i) });
        await Promise.all([allFlood, otherSeen]);
        expect(floodSeen).to.equal(2000);
        const at = order.indexOf('other');
        // Served within a few turns of 32 frames, not after the whole backlog.
        expect(at, 'the other link was served before the backlog was done').to.be.below(500);
      } finally {
        flood.done();
        other.done();
      }
    });

    it('should handle what arrived before an orderly end before reporting the close', async () => {
      const { a, b, done } = await socketPair();
      try {
        let seen = 0;
        const closed = new Promise<number>((resolve) => {
          new ControlConnection(b, {
            onMessage: () => void seen++,
            onClose: () => resolve(seen),
          });
        });
        const sender = new ControlConnection(a, { onMessage: () => undefined });
        for (let i = 0; i < 500; i++) sender.send({ kind: 'close', channelId: BigInt(i) });
        sender.close();
        expect(await closed).to.equal(500);
      } finally {
        done();
      }
    });
  });

  describe('framing errors', () => {
    it('should close the link with ERR_FRAME when the peer announces an over-long frame', async () => {
      const { a, b, done } = await socketPair();
      try {
        const closed = new Promise<Error | undefined>((resolve) => {
          new ControlConnection(b, { onMessage: () => undefined, onClose: resolve });
        });
        a.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
        const e = await closed;
        expect(e).to.have.property('code', 'ERR_FRAME');
      } finally {
        done();
      }
    });

    it('should report an undecodable frame to onInvalid and keep the link', async () => {
      const { a, b, done } = await socketPair();
      try {
        const events: string[] = [];
        const second = new Promise<void>((resolve) => {
          new ControlConnection(b, {
            onMessage: (m) => {
              events.push(m.kind);
              resolve();
            },
            onInvalid: (e) => events.push(e.code),
          });
        });
        a.write(Buffer.from([0, 0, 0, 0])); // an empty frame: no kind
        new ControlConnection(a, { onMessage: () => undefined }).send({
          kind: 'close',
          channelId: 1n,
        });
        await second;
        expect(events).to.deep.equal(['ERR_DECODE', 'close']);
      } finally {
        done();
      }
    });
  });
});
