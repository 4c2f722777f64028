/**
 * A small QMP client for the guest tiers: QEMU listens on a unix socket (`qmpSocket`, a
 * device entry of the guest's command line); the tier connects, negotiates capabilities and
 * runs commands such as hot-plugging a device into the running guest (`object-add`,
 * `device_add`, `device_del` and its `DEVICE_DELETED` event, `object-del`). Every wait is
 * bounded; a refused command rejects with QEMU's own error text.
 */
import { connect, type Socket } from 'node:net';
import { sleep } from '../wait.js';

/** QEMU's QMP server on `path` (`-qmp unix:<path>,server=on,wait=off`). */
export function qmpSocket(path: string): string[] {
  return ['-qmp', `unix:${path},server=on,wait=off`];
}

type QmpMessage = Record<string, unknown>;

export interface QmpClient {
  /** Runs `command`; resolves with its `return`, rejects with QEMU's error or on timeout. */
  execute(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<unknown>;
  /** Waits for an event named `event` whose data matches `match` (bounded). */
  waitEvent(
    event: string,
    match: (data: QmpMessage) => boolean,
    timeoutMs: number,
  ): Promise<QmpMessage>;
  close(): void;
}

/**
 * Connects to the unix socket at `path` once it accepts, waiting at most `timeoutMs`. A socket
 * file that exists is not yet a socket that listens: QEMU binds its `-qmp` socket (the file
 * appears) and listens a moment later, and a connect in between is refused (ECONNREFUSED), as
 * is one before the bind (ENOENT). `gone`, asked between attempts, ends the wait early with its
 * reason (the QEMU exited).
 */
export async function connectWhenAccepting(
  path: string,
  timeoutMs: number,
  gone: () => string | undefined = () => undefined,
): Promise<Socket> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const sock = await new Promise<Socket | undefined>((resolve) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', (e: NodeJS.ErrnoException) => {
        last = e.code ?? e.message;
        resolve(undefined);
      });
    });
    if (sock !== undefined) return sock;
    const why = gone();
    if (why !== undefined) throw new Error(`${path} never accepted: ${why}`);
    if (Date.now() > end) {
      throw new Error(`${path} did not accept a connection within ${timeoutMs} ms (last: ${last})`);
    }
    await sleep(50);
  }
}

/** Connects to QEMU's QMP socket (waiting while QEMU starts) and leaves capabilities mode. */
export async function openQmp(path: string, timeoutMs = 30_000): Promise<QmpClient> {
  const s = await connectWhenAccepting(path, timeoutMs).catch((e: Error) => {
    throw new Error(`QMP socket ${e.message}`);
  });
  const inbox: QmpMessage[] = [];
  let buf = '';
  s.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== '') inbox.push(JSON.parse(line) as QmpMessage);
    }
  });
  s.on('error', () => undefined); // a QEMU that exits ends the tier's use of it
  const take = async (pick: (m: QmpMessage) => boolean, ms: number, what: string) => {
    const stop = Date.now() + ms;
    for (;;) {
      const i = inbox.findIndex(pick);
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      if (Date.now() > stop) throw new Error(`QMP: no ${what} within ${ms} ms`);
      await sleep(20);
    }
  };
  let id = 0;
  const execute = async (command: string, args?: Record<string, unknown>, ms = 10_000) => {
    const tag = `t${++id}`;
    s.write(
      `${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id: tag })}\n`,
    );
    const reply = await take((m) => m['id'] === tag, ms, `answer to ${command}`);
    if ('error' in reply) throw new Error(`QMP ${command}: ${JSON.stringify(reply['error'])}`);
    return reply['return'];
  };
  await take((m) => 'QMP' in m, timeoutMs, 'greeting');
  await execute('qmp_capabilities');
  return {
    execute,
    waitEvent: (event, match, ms) =>
      take(
        (m) => m['event'] === event && match((m['data'] ?? {}) as QmpMessage),
        ms,
        `event ${event}`,
      ),
    close: () => s.destroy(),
  };
}
