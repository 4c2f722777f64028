import { fork, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { VmReport } from './vm/vm-report.js';

/** How to run an entry of this repo: from TS sources under tsx, or compiled from dist/. */
function entry(pkgRoot: string, srcRelative: string): { execArgv: string[]; script: string } {
  if (import.meta.url.endsWith('.ts')) {
    return {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      script: path.join(pkgRoot, srcRelative),
    };
  }
  return { execArgv: [], script: path.join(pkgRoot, 'dist', srcRelative.replace(/\.ts$/, '.js')) };
}

/** A child of the demo with a bounded stop. */
export interface DemoChild {
  readonly name: string;
  readonly child: ChildProcess;
  /** Exit code (or signal name) once it exited. */
  readonly exited: Promise<number | string>;
  /** Stderr so far (for failure messages). */
  stderr(): string;
  /** Asks it to stop (`graceful`), SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | string>;
}

function track(name: string, child: ChildProcess, graceful: () => void): DemoChild {
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err = (err + s).slice(-20_000);
  });
  let code: number | string | undefined;
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (c, signal) => {
      code = c ?? signal ?? -1;
      resolve(code);
    }),
  );
  return {
    name,
    child,
    exited,
    stderr: () => err,
    stop: async (graceMs = 5000) => {
      if (code !== undefined) return code;
      graceful();
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const c = await exited;
      clearTimeout(t);
      return c;
    },
  };
}

/** Starts sivshm-hostd and resolves once it logged `hostd-started` (at most `timeoutMs`). */
export async function startHostd(
  repoRoot: string,
  args: { config: string; stateDir: string; runDir: string; metrics?: string },
  timeoutMs = 15_000,
): Promise<DemoChild> {
  const { execArgv, script } = entry(path.join(repoRoot, 'apps', 'hostd'), 'src/bin.ts');
  const child = spawn(
    process.execPath,
    [
      ...execArgv,
      script,
      '--config',
      args.config,
      '--state-dir',
      args.stateDir,
      '--run-dir',
      args.runDir,
      ...(args.metrics === undefined ? [] : ['--metrics', args.metrics]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const h = track('hostd', child, () => child.kill('SIGTERM'));
  const deadline = Date.now() + timeoutMs;
  let early: number | string | undefined;
  void h.exited.then((c) => (early = c));
  while (!h.stderr().includes('"hostd-started"')) {
    if (early !== undefined || Date.now() > deadline) {
      await h.stop();
      throw new Error(`hostd did not start (exit ${String(early)}):\n${h.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return h;
}

/** Forks a demo VM (`src/vm/<name>.ts`) and resolves once it reported ready. */
export async function startVm(
  demoRoot: string,
  name: 'infotainment' | 'cluster',
  args: { config: string; runDir: string },
  onReport: (r: VmReport) => void,
  timeoutMs = 20_000,
): Promise<DemoChild> {
  const { execArgv, script } = entry(demoRoot, `src/vm/${name}.ts`);
  const child = fork(script, [args.config, args.runDir], {
    execArgv,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const vm = track(name, child, () => {
    if (child.connected) child.send({ cmd: 'exit' });
    else child.kill('SIGTERM');
  });
  let ready = false;
  let failed: string | undefined;
  child.on('message', (r: VmReport) => {
    if (r.kind === 'ready') ready = true;
    else if (r.kind === 'failed') failed = r.message;
    else onReport(r);
  });
  let early: number | string | undefined;
  void vm.exited.then((c) => (early = c));
  const deadline = Date.now() + timeoutMs;
  while (!ready) {
    if (failed !== undefined || early !== undefined || Date.now() > deadline) {
      await vm.stop();
      throw new Error(
        `the ${name} VM did not start: ${failed ?? `exit ${String(early ?? 'timeout')}`}\n${vm.stderr()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return vm;
}
