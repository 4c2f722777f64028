// The SIGBUS guard across processes: a child maps a file through mapFile, this process (another
// one) truncates the file under it, and the child goes on reading and writing the whole range.
// Without the guard the child dies by SIGBUS at its first access past the new end.
import { PAGE_SIZE } from '@sivshm/abi';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createRegionFixture } from './device/region-fixture.js';

const PAGES = 16;
const CHILD = new URL(
  `./sigbus-guard-child${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

interface Step {
  readonly step: string;
  readonly [k: string]: unknown;
}

/** The child, its JSON lines one by one, and how it ended. */
function startChild(args: string[]): {
  child: ChildProcess;
  step: () => Promise<Step>;
  say: (word: string) => void;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
} {
  const file = CHILD.pathname;
  const nodeArgs = file.endsWith('.ts') ? ['--import', 'tsx', file, ...args] : [file, ...args];
  const env = { ...process.env, NODE_OPTIONS: file.endsWith('.ts') ? '--conditions=source' : '' };
  const child = spawn(process.execPath, nodeArgs, { stdio: ['pipe', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  const step = async (): Promise<Step> => {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`no step from the child in 10 s; stderr: ${stderr}`)),
        10_000,
      ).unref(),
    );
    const ended = exit.then((e) => {
      throw new Error(`the child ended (${e.signal ?? e.code}) before its next step: ${e.stderr}`);
    });
    const r = await Promise.race([lines.next(), timeout, ended]);
    if (r.done === true) throw new Error(`the child closed stdout; stderr: ${stderr}`);
    return JSON.parse(r.value as string) as Step;
  };
  return { child, step, say: (w) => child.stdin!.write(`${w}\n`), exit };
}

describe('SIGBUS guard (a mapped file truncated by another process)', () => {
  const children: ChildProcess[] = [];
  const files: string[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const f of files.splice(0)) rmSync(f, { force: true });
  });

  it('should let the mapping process read and write the whole range, mark the mapping lost, and remap it once the file is grown back', async () => {
    const path = `/dev/shm/sivshm-sigbus-${process.pid}`;
    files.push(path);
    writeFileSync(path, Buffer.alloc(PAGES * PAGE_SIZE));
    const c = startChild(['truncated', path]);
    children.push(c.child);
    expect((await c.step()).lost).to.equal(false);

    truncateSync(path, PAGE_SIZE); // `truncate -s 4096`
    c.say('go');
    const touched = await c.step();
    expect(touched.step).to.equal('touched');
    // Page 0 is still the file's; every page past the new end reads as zero.
    expect(touched.seen).to.deep.equal([1, ...Array<number>(PAGES - 1).fill(0)]);
    expect(touched.lost).to.equal(true);
    const guard = touched.guard as { installed: boolean; previous: string; absorbed: number };
    expect(guard.installed).to.equal(true);
    expect(guard.previous, 'Node 20 installs no SIGBUS handler of its own').to.equal('default');
    expect(guard.absorbed, 'one fault: the rest of the mapping was replaced at once').to.equal(1);
    // The child's write to page 0 reached the file; its writes past the end went nowhere.
    const file = readFileSync(path);
    expect(file.length).to.equal(PAGE_SIZE);
    expect(file[100]).to.equal(0xab);

    truncateSync(path, PAGES * PAGE_SIZE); // restored, as hostd does
    c.say('grown');
    const remapped = await c.step();
    expect(remapped.lost).to.equal(false);
    expect(remapped.page0).to.equal(0xab);
    expect(remapped.page5, 'the zero page written before the remap is gone').to.equal(0);
    expect(readFileSync(path)[7 * PAGE_SIZE], 'writes reach the file again').to.equal(0xef);
    const end = await c.exit;
    expect(end.signal, end.stderr).to.equal(null);
    expect(end.code, end.stderr).to.equal(0);
  });

  it('should fail a channel on a truncated emulated-device window with ERR_REGION_LOST, not kill its process', async () => {
    const r = createRegionFixture();
    files.push(r.path);
    const c = startChild(['channel', r.path, String(r.layout.dataOffset)]);
    children.push(c.child);
    expect((await c.step()).state).to.equal('open');
    truncateSync(r.path, PAGE_SIZE); // the header page stays, every window is gone
    c.say('go');
    const failed = await c.step();
    expect(failed.state).to.equal('failed');
    expect(failed.code, String(failed.message)).to.equal('ERR_REGION_LOST');
    const end = await c.exit;
    expect(end.signal, end.stderr).to.equal(null);
    expect(end.code, end.stderr).to.equal(0);
  });

  it('should still let a SIGBUS it does not own end the process (chained to the default action)', async () => {
    const path = `/dev/shm/sivshm-sigbus-foreign-${process.pid}`;
    files.push(path);
    const fd = openSync(path, 'w');
    closeSync(fd);
    truncateSync(path, PAGE_SIZE);
    const c = startChild(['foreign', path]);
    children.push(c.child);
    const armed = await c.step();
    expect((armed.guard as { installed: boolean }).installed).to.equal(true);
    const end = await c.exit;
    expect(end.signal).to.equal('SIGBUS');
  });
});
