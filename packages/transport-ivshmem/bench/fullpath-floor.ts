// The floor of any parked round trip between two Node processes on this machine: a doorbell
// and nothing else, one ring every `intervalMs`, each side asleep in its event loop in between.
import { eventfdCreate } from '../src/native/eventfd.js';
import { closeFd, dupFd } from '../src/native/fd.js';
import { EventfdWaker } from '../src/notify/eventfd-waker.js';
import { startPeer } from './fullpath-spawn.js';

/**
 * p50 µs of `n` parked doorbell round trips: this process rings an eventfd the peer sleeps on
 * (uv_poll, like every parked channel), the peer rings another one back at once, and this
 * process wakes. Two wake-ups of a sleeping process, no ring, no protobuf, no promise beyond
 * the wait's own: what every parked call pays before any of its own work, whatever carries it.
 */
export async function parkedFloorP50Us(n: number, intervalMs: number): Promise<number> {
  const c2p = eventfdCreate();
  const p2c = eventfdCreate();
  const child = await startPeer({ kind: 'bell' }, [c2p, p2c]);
  const ring = new EventfdWaker(dupFd(c2p), { ownsFd: true });
  const back = new EventfdWaker(dupFd(p2c), { ownsFd: true });
  const t: number[] = [];
  try {
    for (let i = 0; i < Math.min(200, n) + n; i++) {
      await new Promise((r) => setTimeout(r, intervalMs));
      const t0 = performance.now();
      ring.wake();
      if (!(await back.wait(30_000))) throw new Error('the doorbell peer did not answer');
      if (i >= Math.min(200, n)) t.push((performance.now() - t0) * 1000); // after the warm-up
    }
  } finally {
    child.kill('SIGKILL');
    ring.close();
    back.close();
    closeFd(c2p);
    closeFd(p2c);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)] ?? NaN;
}
