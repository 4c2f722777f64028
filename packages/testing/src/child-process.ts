import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { NodeEntry } from './node-entry.js';
import { waitFor } from './wait.js';

/** A forked test process that reports over IPC, with a bounded stop. */
export interface ForkedChild<M> {
  readonly child: ChildProcess;
  /** Every IPC message it sent, in order. */
  readonly messages: M[];
  /** Its stderr, when it was piped. */
  readonly stderr: string[];
  /** Resolves when it exited. */
  readonly exited: Promise<void>;
  readonly gone: boolean;
  /** Asks it to end (`graceful`), then SIGKILL after 5 s; resolves once it exited. */
  stop(): Promise<void>;
}

export interface ForkOptions<M> {
  readonly entry: NodeEntry;
  readonly args?: readonly string[];
  /** What the process is, for failure messages. */
  readonly what: string;
  /** True once the messages so far say the process is ready. */
  readonly ready: (messages: readonly M[]) => boolean;
  /** True when a message says the process failed to start (its text goes in the error). */
  readonly failed?: (messages: readonly M[]) => boolean;
  readonly timeoutMs?: number;
  /** Pipe stderr (kept in `stderr`) instead of inheriting it. */
  readonly pipeStderr?: boolean;
  /** How to ask it to end; by default `{ cmd: 'exit' }` over IPC, SIGTERM without a channel. */
  readonly graceful?: (child: ChildProcess) => void;
}

/** Forks `entry` with an IPC channel and resolves once `ready` holds (bounded). */
export async function forkChild<M>(o: ForkOptions<M>): Promise<ForkedChild<M>> {
  if (!existsSync(o.entry.script))
    throw new Error(`${o.what}: ${o.entry.script} is missing (not built?)`);
  const child = fork(o.entry.script, [...(o.args ?? [])], {
    execArgv: o.entry.execArgv,
    stdio: ['ignore', 'inherit', o.pipeStderr === true ? 'pipe' : 'inherit', 'ipc'],
  });
  const messages: M[] = [];
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (s: string) => stderr.push(s));
  child.on('message', (m: M) => messages.push(m));
  let gone = child.exitCode !== null;
  const exited = new Promise<void>((r) =>
    child.on('exit', () => {
      gone = true;
      r();
    }),
  );
  const graceful =
    o.graceful ??
    ((c: ChildProcess) => {
      // A child can die between the check and the write: with a callback the failed send is
      // answered with SIGTERM instead of an unhandled 'error' event (EPIPE) ending the caller.
      if (c.connected) c.send({ cmd: 'exit' }, (e) => void (e !== null && c.kill('SIGTERM')));
      else c.kill('SIGTERM');
    });
  const forked: ForkedChild<M> = {
    child,
    messages,
    stderr,
    exited,
    get gone() {
      return gone;
    },
    stop: async () => {
      if (gone) return;
      graceful(child);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  const failed = (): boolean => o.failed?.(messages) === true;
  await waitFor(() => o.ready(messages) || gone || failed(), o.what, o.timeoutMs ?? 15_000).catch(
    () => undefined,
  );
  if (!o.ready(messages)) {
    await forked.stop();
    throw new Error(
      `${o.what} did not start${gone ? ' (it exited)' : ''}: ${JSON.stringify(messages)} ${stderr.join('')}`,
    );
  }
  return forked;
}
