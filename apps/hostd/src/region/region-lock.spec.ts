import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegionLock } from './region-lock.js';
import { exited, firstLine, killHolders, lockHolder } from '../../test/support/lock-holders.js';

const SELF = fileURLToPath(import.meta.url).replace(/\.spec\.(js|ts)$/, '.$1');

/**
 * Another process that takes the region's lock with RegionLock itself (from `startAt`, a wall
 * clock time, so several can race), says `won` or `refused …` and holds on until killed.
 */
function locker(region: string, runDir: string, startAt = 0): ChildProcess {
  const code = `
    const { RegionLock } = await import(${JSON.stringify(SELF)});
    while (Date.now() < ${startAt}) {}
    try { RegionLock.take(${JSON.stringify(region)}, ${JSON.stringify(runDir)}); console.log('won'); }
    catch (e) { console.log('refused ' + e.message); }
    setInterval(() => {}, 1000);`;
  return lockHolder(code);
}

describe('RegionLock', () => {
  let dir: string;
  let region: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sivshm-region-lock-'));
    region = path.join(dir, 'region');
  });
  afterEach(async () => {
    await killHolders(children);
    rmSync(dir, { recursive: true, force: true });
  });

  describe('.take', () => {
    it('should refuse a region whose lock another process holds, naming its pid and run dir', async () => {
      const holder = locker(region, '/run/first');
      children.push(holder);
      expect(await firstLine(holder)).to.equal('won');
      expect(() => RegionLock.take(region, '/run/second')).to.throw(
        new RegExp(`in use by another hostd \\(pid ${holder.pid}, run dir /run/first, lock `),
      );
      expect(RegionLock.holder(region)).to.deep.equal({ pid: holder.pid, runDir: '/run/first' });
    });

    it('should find the lock of a holder killed with SIGKILL free at once', async () => {
      const holder = locker(region, '/run/first');
      children.push(holder);
      expect(await firstLine(holder)).to.equal('won');
      holder.kill('SIGKILL');
      await exited(holder);
      // No wait, no pid check: the kernel dropped the lock with the process. Its file is left.
      expect(existsSync(`${region}.lock`)).to.equal(true);
      expect(RegionLock.holder(region)).to.equal(undefined);
      const lock = RegionLock.take(region, '/run/second');
      expect(JSON.parse(readFileSync(`${region}.lock`, 'utf8'))).to.deep.equal({
        pid: process.pid,
        runDir: '/run/second',
      });
      lock.release();
      expect(existsSync(`${region}.lock`)).to.equal(false);
    });

    it('should let exactly one of several processes racing for the region in', async () => {
      const startAt = Date.now() + 1500; // every racer loaded and spinning by then
      const racers = Array.from({ length: 3 }, (_, i) => locker(region, `/run/${i}`, startAt));
      children.push(...racers);
      const said = await Promise.all(racers.map(firstLine));
      expect(
        said.filter((s) => s === 'won'),
        said.join('\n'),
      ).to.have.length(1);
      const winner = racers[said.indexOf('won')]!;
      for (const s of said.filter((x) => x !== 'won')) {
        expect(s).to.match(
          new RegExp(`in use by another hostd \\(pid ${winner.pid}|not named itself yet`),
        );
      }
    });

    it('should refuse a second lock in the same process, ignore a stale pid file, and remove only its own on release', () => {
      writeFileSync(`${region}.lock`, `${process.ppid}\n`); // a pid file of the old scheme: no lock
      const lock = RegionLock.take(region);
      expect(() => RegionLock.take(region)).to.throw(/in use by another hostd \(pid \d+, lock /);
      lock.release();
      lock.release();
      expect(existsSync(`${region}.lock`)).to.equal(false);
      RegionLock.take(region).release();
    });
  });
});
