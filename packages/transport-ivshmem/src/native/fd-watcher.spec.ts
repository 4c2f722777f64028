import { expect } from 'chai';
import { TransportError } from '../errors/transport-error.js';
import { eventfdCreate, eventfdRead, eventfdWrite } from './eventfd.js';
import { closeFd } from './fd.js';
import { FdEvents, watchFd, watchReadable } from './fd-watcher.js';
import { unixSocketPair } from './unix-socket.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('FdWatcher', () => {
  describe('.watchReadable', () => {
    it('should call back on the event loop when an eventfd is rung, once per drain', async () => {
      const efd = eventfdCreate();
      const counts: bigint[] = [];
      const w = watchReadable(efd, (events) => {
        expect(events & FdEvents.readable).to.equal(FdEvents.readable);
        counts.push(eventfdRead(efd));
      });
      try {
        eventfdWrite(efd, 2);
        eventfdWrite(efd, 3);
        expect(counts).to.deep.equal([]); // never synchronously
        for (let i = 0; i < 100 && counts.length === 0; i++) await tick();
        expect(counts).to.deep.equal([5n]);
        await tick(20);
        expect(counts).to.deep.equal([5n]); // drained: level-triggered readiness is gone
      } finally {
        w.stop();
        closeFd(efd);
      }
    });

    it('should stop calling back once stopped from inside the callback', async () => {
      const efd = eventfdCreate();
      let calls = 0;
      const w = watchReadable(efd, () => {
        calls++;
        w.stop(); // without draining: a live watcher would fire again next turn
      });
      eventfdWrite(efd, 1);
      for (let i = 0; i < 100 && calls === 0; i++) await tick();
      await tick(20);
      expect(calls).to.equal(1);
      expect(w.active).to.equal(false);
      w.stop();
      expect(() => w.setEvents(FdEvents.readable))
        .to.throw(TransportError)
        .with.property('code', 'ERR_CLOSED');
      closeFd(efd);
    });
  });

  describe('.setEvents', () => {
    it('should switch a socket watcher to writability', async () => {
      const [a, b] = unixSocketPair('stream');
      const seen: number[] = [];
      const w = watchFd(a, FdEvents.readable, (events) => {
        seen.push(events);
        w.stop();
      });
      try {
        await tick(20);
        expect(seen).to.deep.equal([]); // nothing to read yet
        w.setEvents(FdEvents.writable);
        for (let i = 0; i < 100 && seen.length === 0; i++) await tick();
        expect(seen[0]! & FdEvents.writable).to.equal(FdEvents.writable);
      } finally {
        w.stop();
        closeFd(a);
        closeFd(b);
      }
    });

    it('should reject event masks outside 1..7', () => {
      const efd = eventfdCreate();
      try {
        for (const bad of [0, 8, 1.5]) {
          expect(() => watchFd(efd, bad, () => undefined))
            .to.throw(TransportError)
            .with.property('code', 'ERR_BAD_ARGUMENT');
        }
      } finally {
        closeFd(efd);
      }
    });
  });
});
