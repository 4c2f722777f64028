import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LockFile } from './lock-file.js';

describe('LockFile', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sivshm-lock-file-'));
    file = path.join(dir, 'x.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('should hold the file against a second taker in the same process and name the holder', () => {
    const a = LockFile.tryTake(file, 'first\n');
    expect(a).to.not.equal(undefined);
    expect(a!.held).to.equal(true);
    expect(LockFile.tryTake(file, 'second\n'), 'locks belong to the open file').to.equal(undefined);
    expect(LockFile.holder(file)).to.equal('first\n');
    expect(readFileSync(file, 'utf8'), 'the loser wrote nothing').to.equal('first\n');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    a!.release();
    a!.release();
    expect(a!.held).to.equal(false);
    expect(existsSync(file)).to.equal(false);
    expect(LockFile.holder(file)).to.equal(undefined);
  });

  it('should take a file nobody holds whatever it says, and replace its text', () => {
    writeFileSync(file, 'a long line a dead holder left behind\n');
    expect(LockFile.holder(file), 'a file is not a lock').to.equal(undefined);
    const l = LockFile.tryTake(file, 'me\n');
    expect(readFileSync(file, 'utf8')).to.equal('me\n');
    l!.release();
  });

  it('should refuse a symbolic link as the lock file with ERR_SYSCALL', () => {
    const target = path.join(dir, 'target');
    writeFileSync(target, '');
    const link = path.join(dir, 'link.lock');
    // O_NOFOLLOW: a planted link cannot make the taker truncate another file.
    symlinkSync(target, link);
    expect(() => LockFile.tryTake(link, 'me\n'))
      .to.throw()
      .with.property('code', 'ERR_SYSCALL');
  });

  it('should refuse a bad path, holder or mode with ERR_BAD_ARGUMENT and leave the file alone', () => {
    writeFileSync(file, 'kept\n');
    const bad: (() => unknown)[] = [
      () => LockFile.tryTake('', 'me\n'),
      () => LockFile.tryTake(`${file}\0x`, 'me\n'),
      () => LockFile.tryTake(3 as unknown as string, 'me\n'),
      () => LockFile.tryTake(file, 5 as unknown as string),
      () => LockFile.tryTake(file, 'me\n', -1),
      () => LockFile.tryTake(file, 'me\n', 0o10000),
      () => LockFile.holder(''),
      () => LockFile.holder(`${file}\0x`),
    ];
    for (const f of bad) expect(f).to.throw().with.property('code', 'ERR_BAD_ARGUMENT');
    expect(readFileSync(file, 'utf8'), 'a refused holder truncated nothing').to.equal('kept\n');
    expect(LockFile.holder(file)).to.equal(undefined);
  });
});
