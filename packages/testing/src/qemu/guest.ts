import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { qemuArgs, type GuestMachine } from './qemu-args.js';

/** A guest as it ended: QEMU's exit code and the console followed by what QEMU itself said. */
export interface GuestExit {
  readonly code: number | null;
  readonly log: string;
  readonly logPath: string;
}

/** A running QEMU guest whose console the host follows as it grows. */
export interface QemuGuest {
  readonly name: string;
  readonly logPath: string;
  readonly qemu: ChildProcess;
  /** Resolves when QEMU exited; its own output is then in `<logPath>.qemu`. */
  readonly exited: Promise<GuestExit>;
  /** The console so far (no carriage returns). */
  console(): string;
  /** The last console and QEMU lines, for a failure message. */
  tail(lines?: number): string;
  kill(): void;
}

export interface BootOptions extends GuestMachine {
  /** Names the guest in messages. */
  readonly name: string;
  /** Killed after this long (its log says so); unbounded when absent. */
  readonly timeoutMs?: number;
}

/** Boots one guest. */
export function bootGuest(o: BootOptions): QemuGuest {
  const qemu = spawn(o.arch?.qemu ?? 'qemu-system-x86_64', qemuArgs(o), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  qemu.stdout.on('data', (d: Buffer) => (said += d.toString('latin1')));
  qemu.stderr.on('data', (d: Buffer) => (said += d.toString('latin1')));
  const timer =
    o.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          said += `\n[qemu harness] guest ${o.name} killed after ${o.timeoutMs} ms\n`;
          qemu.kill('SIGKILL');
        }, o.timeoutMs);
  const consoleText = (): string =>
    existsSync(o.serialLog) ? readFileSync(o.serialLog, 'latin1').replace(/\r/g, '') : '';
  const qemuText = (): string => {
    const f = `${o.serialLog}.qemu`;
    return existsSync(f) ? readFileSync(f, 'latin1') : said;
  };
  const exited = new Promise<GuestExit>((resolve) => {
    qemu.on('close', (code) => {
      clearTimeout(timer);
      if (said !== '') writeFileSync(`${o.serialLog}.qemu`, said);
      resolve({ code, log: `${consoleText()}${said.replace(/\r/g, '')}`, logPath: o.serialLog });
    });
  });
  return {
    name: o.name,
    logPath: o.serialLog,
    qemu,
    exited,
    console: consoleText,
    tail: (n = 12) => {
      const lines = `${consoleText()}${qemuText()}`.split('\n').filter((l) => l.trim() !== '');
      return `[${o.name} log tail: ${lines.slice(-n).join(' | ')}] (log: ${o.serialLog})`;
    },
    kill: () => void qemu.kill('SIGKILL'),
  };
}
