// `sivshm top`'s run: polls hostd's status socket, prints frames. Loaded only when `top` runs.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';
import { readStatusSocket, statusDocument } from './status.js';
import { topFrame, type TopFrame, type TopStatus } from './top-frame.js';
import { renderTop, SORTS, type TopSort } from './top-render.js';

export interface TopOptions {
  readonly runDir: string;
  readonly intervalMs: number;
  readonly once: boolean;
  readonly json: boolean;
}

// Plain ANSI (VT100) sequences: every terminal, SSH session and tmux pane understands them, so
// no terminal UI library is needed for one redrawn table.
const ALT_SCREEN_ON = '\x1b[?1049h\x1b[?25l';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';

async function poll(socket: string): Promise<TopStatus> {
  try {
    return statusDocument(await readStatusSocket(socket), socket) as unknown as TopStatus;
  } catch (e) {
    if (e instanceof CliError) throw e;
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError(
      'ERR_HOSTD',
      `cannot read hostd's status at ${socket} (${why}); is hostd running with this --run-dir?`,
    );
  }
}

/** Polls twice, `intervalMs` apart, and builds the frame. */
async function nextFrame(
  socket: string,
  before: TopStatus,
  ms: number,
): Promise<[TopFrame, TopStatus]> {
  const started = performance.now();
  await sleep(ms);
  const after = await poll(socket);
  return [topFrame(before, after, performance.now() - started), after];
}

function print(frame: TopFrame, json: boolean, sort: TopSort): void {
  process.stdout.write(
    json ? `${JSON.stringify(frame)}\n` : `${renderTop(frame, sort).join('\n')}\n`,
  );
}

/** Runs `sivshm top`: one frame (`--once`), frames as lines (not a terminal), or the live view. */
export async function runTop(o: TopOptions): Promise<void> {
  const socket = path.join(path.resolve(o.runDir), 'status.sock');
  let before = await poll(socket);
  if (o.once) {
    print((await nextFrame(socket, before, o.intervalMs))[0], o.json, 'rate');
    return;
  }
  const live = process.stdout.isTTY === true && !o.json;
  let sort: TopSort = 'rate';
  let quit = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    quit = true;
    wake?.();
  };
  const restore = (): void => {
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    process.stdin.pause();
    if (live) process.stdout.write(ALT_SCREEN_OFF);
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true).resume();
    process.stdin.on('data', (b: Buffer) => {
      const key = b.toString('latin1');
      // q, Q, Ctrl-C (raw mode delivers it as a byte, not SIGINT), Esc
      if (['q', 'Q', '\x03', '\x1b'].includes(key)) stop();
      if (key === 's') sort = SORTS[(SORTS.indexOf(sort) + 1) % SORTS.length]!;
    });
  }
  if (live) process.stdout.write(ALT_SCREEN_ON);
  try {
    while (!quit) {
      const [frame, after] = await Promise.race([
        nextFrame(socket, before, o.intervalMs),
        new Promise<never[]>((r) => (wake = () => r([]))),
      ]);
      if (frame === undefined || after === undefined) break;
      before = after;
      if (live) {
        const lines = renderTop(frame, sort);
        lines.push('', `q quit · s sort (now: ${sort}) · every ${o.intervalMs} ms`);
        process.stdout.write(HOME_CLEAR + lines.join('\r\n'));
      } else print(frame, o.json, sort);
    }
  } finally {
    restore();
  }
}
