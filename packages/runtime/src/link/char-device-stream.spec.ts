import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { RuntimeError } from '../errors/runtime-error.js';
import { CharDeviceStream } from './char-device-stream.js';

// A FIFO opened read-write stands in for the device node here: it is pollable and
// non-blocking like a virtio-serial port, and what the stream writes it reads back. The real
// port is exercised by the QEMU tier (apps/hostd/test/qemu).
describe('CharDeviceStream', () => {
  let dir: string;
  let fifo: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sivshm-chardev-'));
    fifo = path.join(dir, 'port');
    execFileSync('mkfifo', [fifo]);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const collect = (s: CharDeviceStream, bytes: number): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      const timer = setTimeout(() => reject(new Error(`only ${n} of ${bytes} bytes`)), 5000);
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        n += c.length;
        if (n >= bytes) {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        }
      });
    });

  describe('.open', () => {
    it('should reject a path that cannot be opened with ERR_CONNECT naming it', async () => {
      const e = await CharDeviceStream.open(path.join(dir, 'missing')).catch((x: unknown) => x);
      expect(RuntimeError.is(e)).to.equal(true);
      expect((e as RuntimeError).code).to.equal('ERR_CONNECT');
      expect((e as Error).message).to.contain('missing');
    });

    it('should discard what was pending before it opened when asked to', async () => {
      // Keep a reader so the writer's open does not block, then queue stale bytes.
      const keep = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      writeSync(keep, Buffer.from('stale frame of an earlier app'));
      const s = await CharDeviceStream.open(fifo, { discardStaleMs: 50 });
      try {
        expect(s.discarded).to.equal('stale frame of an earlier app'.length);
        const got = collect(s, 5);
        writeSync(keep, Buffer.from('fresh'));
        expect((await got).toString()).to.equal('fresh');
      } finally {
        s.destroy();
        closeSync(keep);
      }
    });
  });

  describe('.write', () => {
    it('should carry every byte in order, also more than one pipe buffer', async () => {
      const s = await CharDeviceStream.open(fifo);
      try {
        // 256 KiB > the 64 KiB a FIFO holds: the writer must wait for writability, not fail.
        const data = Buffer.alloc(256 * 1024);
        for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
        const got = collect(s, data.length);
        s.write(data);
        expect((await got).equals(data)).to.equal(true);
      } finally {
        s.destroy();
      }
    });
  });

  describe('.destroy', () => {
    // Why not fs streams: their read() blocks a threadpool thread until data comes, so a
    // destroyed fs.ReadStream on a silent port never closes (nor does process.exit return).
    it('should close while a read is waiting on a silent device', async () => {
      const s = await CharDeviceStream.open(fifo);
      s.on('data', () => undefined);
      await new Promise((r) => setTimeout(r, 20));
      const closed = new Promise<boolean>((r) => s.once('close', () => r(true)));
      s.destroy();
      const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref());
      expect(await Promise.race([closed, timeout])).to.equal(true);
    });
  });

  describe('.end', () => {
    it('should close the stream and its fd', async () => {
      const s = await CharDeviceStream.open(fifo);
      s.resume();
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      s.end();
      await closed;
      expect(s.destroyed).to.equal(true);
    });
  });
});
