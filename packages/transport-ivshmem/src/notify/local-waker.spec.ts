import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { LocalWaker } from './local-waker.js';

describe('LocalWaker', () => {
  describe('.wait', () => {
    it('should resolve true for an earlier ring, false after a timeout', async () => {
      const w = new LocalWaker();
      w.wake();
      expect(await w.wait(100)).to.equal(true);
      expect(await w.wait(10)).to.equal(false);
    });

    it('should be woken by another thread ringing the shared word', async () => {
      const w = new LocalWaker();
      const worker = new Worker(
        `const { workerData } = require('node:worker_threads');
         const word = new Int32Array(workerData);
         setTimeout(() => { Atomics.add(word, 0, 1); Atomics.notify(word, 0); }, 10);`,
        { eval: true, workerData: w.buffer },
      );
      try {
        expect(await w.wait(5000)).to.equal(true);
      } finally {
        await worker.terminate();
      }
    });
  });

  describe('.close', () => {
    it('should resolve a pending wait with false', async () => {
      const w = new LocalWaker();
      const p = w.wait(10_000);
      w.close();
      expect(await p).to.equal(false);
    });
  });
});
