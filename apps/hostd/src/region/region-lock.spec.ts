import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RegionLock } from './region-lock.js';

describe('RegionLock', () => {
  let dir: string;
  let region: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sivshm-region-lock-'));
    region = path.join(dir, 'region');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('.take', () => {
    it('should refuse a region whose lock a live process holds, naming its pid', () => {
      writeFileSync(`${region}.lock`, `${process.ppid}\n`);
      expect(() => RegionLock.take(region)).to.throw(
        new RegExp(`in use by another hostd \\(pid ${process.ppid}`),
      );
    });

    it("should take over a dead holder's lock and remove only its own on release", () => {
      const dead = spawnSync(
        process.execPath,
        ['-e', 'process.stdout.write(String(process.pid))'],
        {
          encoding: 'utf8',
        },
      );
      writeFileSync(`${region}.lock`, `${dead.stdout}\n`);
      const lock = RegionLock.take(region);
      expect(readFileSync(`${region}.lock`, 'utf8').trim()).to.equal(String(process.pid));
      lock.release();
      expect(existsSync(`${region}.lock`)).to.equal(false);
    });
  });
});
