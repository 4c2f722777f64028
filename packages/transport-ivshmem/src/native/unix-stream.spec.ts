import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { TransportError } from '../errors/transport-error.js';
import { eventfdCreate, eventfdRead, eventfdWrite } from './eventfd.js';
import { closeFd } from './fd.js';
import { unixSocketPair } from './unix-socket.js';
import { UnixStream } from './unix-stream.js';

const fdCount = () => readdirSync('/proc/self/fd').length;
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('UnixStream', () => {
  describe('.send', () => {
    it('should queue what the kernel does not take and deliver it in order with its fds', async () => {
      const before = fdCount();
      const [x, y] = unixSocketPair('stream');
      const efd = eventfdCreate();
      const sender = UnixStream.fromFd(x, { maxPendingBytes: 64 << 20 });
      const received: number[] = [];
      const fds: number[] = [];
      let total = 0;
      const chunk = new Uint8Array(64 * 1024);
      const chunks = 64; // 4 MiB: far more than a socket buffer holds
      for (let i = 0; i < chunks; i++) {
        chunk.fill(i & 0xff);
        sender.send(chunk, i === chunks - 1 ? [efd] : []);
      }
      // The caller may close its fd at once: a queued message holds its own duplicate.
      closeFd(efd);
      const done = new Promise<void>((resolve) => {
        const receiver = UnixStream.fromFd(y, {
          onReadable: (s) => {
            for (;;) {
              const m = s.recv(256 * 1024, 4);
              if (m === undefined || m === null) return;
              // Sample the byte at every global 4 KiB boundary inside this read.
              const first = Math.ceil(total / 4096) * 4096;
              for (let p = first; p < total + m.data.length; p += 4096) {
                received.push(m.data[p - total] as number);
              }
              total += m.data.length;
              fds.push(...m.fds);
              if (total === chunks * chunk.length) {
                s.close();
                resolve();
                return;
              }
            }
          },
        });
        void receiver;
      });
      await done;
      expect(total).to.equal(chunks * chunk.length);
      // Every 4 KiB sample carries its chunk's fill byte, in order.
      expect(received.filter((v, i) => v !== (Math.floor(i / 16) & 0xff))).to.deep.equal([]);
      expect(fds).to.have.length(1);
      const got = fds[0] as number;
      eventfdWrite(got, 3);
      expect(eventfdRead(got)).to.equal(3n);
      closeFd(got);
      sender.close();
      expect(fdCount()).to.equal(before);
    });

    it('should close the stream with ERR_PEER_GONE when the peer stops reading', async () => {
      const [x, y] = unixSocketPair('stream');
      let closedWith: TransportError | undefined;
      const sender = UnixStream.fromFd(x, {
        maxPendingBytes: 256 * 1024,
        onClose: (e) => (closedWith = e),
      });
      const chunk = new Uint8Array(64 * 1024);
      for (let i = 0; i < 64 && !sender.closed; i++) sender.send(chunk);
      expect(sender.closed).to.equal(true);
      expect(closedWith?.code).to.equal('ERR_PEER_GONE');
      expect(() => sender.send(chunk))
        .to.throw(TransportError)
        .with.property('code', 'ERR_CLOSED');
      closeFd(y);
    });
  });

  describe('.recv', () => {
    it('should return null and report a clean close at end of stream', async () => {
      const [x, y] = unixSocketPair('stream');
      let closes = 0;
      let reason: TransportError | undefined = new TransportError('ERR_TIMEOUT', 'not closed');
      const s = UnixStream.fromFd(y, {
        onReadable: (st) => {
          while (st.recv(16, 1)) {
            // discard
          }
        },
        onClose: (e) => {
          closes++;
          reason = e;
        },
      });
      closeFd(x);
      for (let i = 0; i < 100 && !s.closed; i++) await tick();
      expect(s.closed).to.equal(true);
      expect(closes).to.equal(1);
      expect(reason).to.equal(undefined);
      expect(s.fd).to.equal(-1);
    });
  });

  describe('.connect', () => {
    it('should fail with ERR_SYSCALL ENOENT when no socket exists at the path', async () => {
      try {
        await UnixStream.connect('/tmp/sivshm-no-such-socket.sock');
        expect.fail('connected to a missing socket');
      } catch (e) {
        if (!TransportError.is(e)) throw e;
        expect(e.code).to.equal('ERR_SYSCALL');
        expect(e.syscall).to.equal('connect');
        expect(e.errnoName).to.equal('ENOENT');
      }
    });
  });
});
