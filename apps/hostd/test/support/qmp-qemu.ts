// A real QEMU with nothing but a QMP socket (`pc` machine, no guest kernel, no disks), for the
// QMP client and hot-plug specs. Without a guest OS nothing answers ACPI: device_del never
// completes on its own, which is exactly an uncooperative guest.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { connectWhenAccepting } from '@sivshm/testing/qemu';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** True when the QEMU binary runs here (the specs skip, saying so, when it does not). */
export function qemuAvailable(): boolean {
  return spawnSync(QEMU_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface QmpQemu {
  readonly socketPath: string;
  /** A second QMP monitor for the test itself (QEMU serves one client per monitor). */
  readonly testSocketPath: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Paths of the regular files this QEMU maps (from /proc/<pid>/maps). */
  mappedFiles(): string[];
  stop(): Promise<void>;
}

/** How long a QEMU may take to listen on its QMP sockets (TCG start-up on a loaded machine). */
const START_TIMEOUT_MS = 30_000;

/**
 * Starts QEMU with its QMP socket at `dir/<name>.qmp` (and a second one for the test at
 * `dir/<name>-test.qmp`) and waits (≤ 30 s) until both accept a connection.
 */
export async function startQmpQemu(dir: string, name: string): Promise<QmpQemu> {
  const socketPath = path.join(dir, `${name}.qmp`);
  const testSocketPath = path.join(dir, `${name}-test.qmp`);
  const child = spawn(
    QEMU_BINARY,
    [
      ...['-machine', 'pc', '-accel', 'tcg', '-m', '32', '-display', 'none', '-nodefaults'],
      ...['-qmp', `unix:${socketPath},server=on,wait=off`],
      ...['-qmp', `unix:${testSocketPath},server=on,wait=off`],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const gone = (): string | undefined =>
    child.exitCode !== null || child.signalCode !== null
      ? `QEMU exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`
      : undefined;
  try {
    // Ready means accepting, not the socket file existing: QEMU creates the file when it binds
    // and listens a moment later, and a connect in between is refused. The probe connection is
    // closed at once; QEMU then serves the next client of that monitor.
    for (const p of [socketPath, testSocketPath]) {
      (await connectWhenAccepting(p, START_TIMEOUT_MS, gone)).destroy();
    }
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`QEMU ${name} did not start its QMP monitors: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const pid = child.pid!;
  return {
    socketPath,
    testSocketPath,
    process: child,
    pid,
    mappedFiles: () =>
      fs
        .readFileSync(`/proc/${pid}/maps`, 'utf8')
        .split('\n')
        .map((l) => l.split(/\s+/).slice(5).join(' '))
        .filter((p) => p.startsWith('/')),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
