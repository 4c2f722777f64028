// Bench-only switch: with SIVSHM_BENCH_CPU_PROF=<dir>, the e2e bench's child processes (the
// provider VM) write a V8 CPU profile of their whole life to <dir> when they
// are asked to stop, so the two paths' processes can be compared function by function. `--cpu-prof` cannot
// do it: Node refuses it in NODE_OPTIONS, and the children are forked without flags.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** Starts profiling this process when the switch is set; the profile is written at exit. */
export function profileThisProcessIfAsked(name: string): void {
  const dir = process.env['SIVSHM_BENCH_CPU_PROF'];
  if (dir === undefined || dir === '') return;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 100 });
  session.post('Profiler.start');
  let written = false;
  const write = (): void => {
    if (written) return;
    written = true;
    session.post('Profiler.stop', (err, result) => {
      if (err !== null) return;
      writeFileSync(
        path.join(dir, `${name}-${process.pid}.cpuprofile`),
        JSON.stringify(result.profile),
      );
    });
  };
  // Written when the parent asks the process to stop (it closes its Node meanwhile): an exit
  // handler cannot, the session answers after the process would be gone.
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'exit') write();
  });
  process.on('disconnect', write);
}
