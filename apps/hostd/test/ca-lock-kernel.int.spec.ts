// The CA directory's lock as hostd and the CLI take it: core's CaLock with the kernel lock
// transport's LockFile provides (core cannot take one itself: Node has no file locks). Other
// processes hold it here, as a `sivshm ca` command or a hostd would.
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaLock, CaLockedError } from '@sivshm/core';
import { LockFile } from '@sivshm/transport-ivshmem';
import { exited, firstLine, killHolders, lockHolder } from './support/lock-holders.js';

const CORE = import.meta.resolve('@sivshm/core');
const TRANSPORT = import.meta.resolve('@sivshm/transport-ivshmem');

/** Another process taking `dir`'s lock (from `startAt`, so several can race); holds on. */
function holder(dir: string, owner: 'hostd' | 'sivshm ca', startAt = 0): ChildProcess {
  const code = `
    const { CaLock } = await import(${JSON.stringify(CORE)});
    const { LockFile } = await import(${JSON.stringify(TRANSPORT)});
    while (Date.now() < ${startAt}) {}
    try { CaLock.take(${JSON.stringify(dir)}, { owner: ${JSON.stringify(owner)} }, LockFile); console.log('won'); }
    catch (e) { console.log(e.code + ' ' + e.message); }
    setInterval(() => {}, 1000);`;
  return lockHolder(code);
}

describe('CaLock with kernel locks (LockFile)', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'sivshm-ca-kernel-lock-'))));
  afterEach(async () => {
    await killHolders(children);
    rmSync(dir, { recursive: true, force: true });
  });

  it('should name a live holder in another process, and find its lock free at once after SIGKILL', async () => {
    const h = holder(dir, 'hostd');
    children.push(h);
    expect(await firstLine(h)).to.equal('won');
    expect(CaLock.holder(dir, LockFile)).to.deep.equal({ pid: h.pid, owner: 'hostd' });
    let refused: unknown;
    try {
      CaLock.take(dir, { owner: 'sivshm ca' }, LockFile);
    } catch (e) {
      refused = e;
    }
    expect(refused).to.be.instanceOf(CaLockedError);
    expect((refused as Error).message).to.match(
      new RegExp(`held by the running hostd \\(pid ${h.pid}\\)`),
    );
    h.kill('SIGKILL');
    await exited(h);
    // No pid check and no wait: the kernel dropped the lock with the process.
    expect(existsSync(path.join(dir, 'ca.lock')), 'the dead holder left its file').to.equal(true);
    expect(CaLock.holder(dir, LockFile)).to.equal(undefined);
    const mine = CaLock.take(dir, { owner: 'sivshm ca' }, LockFile);
    expect(CaLock.holder(dir, LockFile)).to.deep.equal({ pid: process.pid, owner: 'sivshm ca' });
    mine.release();
    expect(existsSync(path.join(dir, 'ca.lock'))).to.equal(false);
  });

  it('should let exactly one of several racing processes have the directory', async () => {
    const startAt = Date.now() + 1500;
    const racers = Array.from({ length: 3 }, () => holder(dir, 'sivshm ca', startAt));
    children.push(...racers);
    const said = await Promise.all(racers.map(firstLine));
    expect(
      said.filter((s) => s === 'won'),
      said.join('\n'),
    ).to.have.length(1);
    const winner = racers[said.indexOf('won')]!;
    for (const s of said.filter((x) => x !== 'won')) {
      expect(s).to.match(
        new RegExp(`^ERR_CA_LOCKED .*another sivshm ca command \\(pid ${winner.pid}\\)`),
      );
    }
  });
});
