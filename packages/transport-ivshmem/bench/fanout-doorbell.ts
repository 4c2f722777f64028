import { eventfdRead, eventfdWrite } from '../src/native/eventfd.js';
import { closeFd } from '../src/native/fd.js';
import { watchReadable, type FdWatcher } from '../src/native/fd-watcher.js';
import type { Waker } from '../src/notify/waker.js';

/**
 * One eventfd doorbell shared by several channels of a process, the way EmulatedDoorbells
 * shares one ivshmem vector per VM: a ring wakes every channel sleeping on it, and each
 * re-checks its own ring. For the fullpath bench's shared-doorbell case. Owns `fd` (closed
 * by {@link close}).
 */
export class FanoutDoorbell {
  readonly #sleepers = new Set<(rung: boolean) => void>();
  readonly #watcher: FdWatcher;
  #rung = 0;

  constructor(readonly fd: number) {
    this.#watcher = watchReadable(fd, () => {
      if (eventfdRead(fd) === 0n) return;
      this.#rung++;
      const woken = [...this.#sleepers];
      this.#sleepers.clear();
      for (const s of woken) s(true);
    }).unref();
  }

  /** A waker for one channel: `wait()` sleeps on the shared fd; `wake()` rings `peerFd`. */
  waker(peerFd: number): Waker {
    let seen = this.#rung;
    return {
      wake: () => eventfdWrite(peerFd, 1),
      wait: (timeoutMs) => {
        if (this.#rung !== seen) {
          seen = this.#rung;
          return Promise.resolve(true);
        }
        return new Promise<boolean>((resolve) => {
          const finish = (rung: boolean): void => {
            clearTimeout(timer);
            this.#sleepers.delete(finish);
            seen = this.#rung;
            resolve(rung);
          };
          const timer = setTimeout(() => finish(false), timeoutMs);
          this.#sleepers.add(finish);
        });
      },
      close: () => undefined,
    };
  }

  close(): void {
    this.#watcher.stop();
    for (const s of [...this.#sleepers]) s(false);
    this.#sleepers.clear();
    closeFd(this.fd);
  }
}
