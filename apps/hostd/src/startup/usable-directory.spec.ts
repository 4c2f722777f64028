import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostdError } from '../errors/hostd-error.js';
import { ensureUsableDirectory } from './usable-directory.js';

describe('ensureUsableDirectory', () => {
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'sivshm-dir-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('should create the missing levels, each 0700', () => {
    const dir = path.join(tmp, 'a', 'b');
    ensureUsableDirectory(dir, '--run-dir');
    expect(statSync(dir).isDirectory()).to.equal(true);
    expect(statSync(path.join(tmp, 'a')).mode & 0o777).to.equal(0o700);
  });

  it('should accept a directory that exists', () => {
    expect(() => ensureUsableDirectory(tmp, '--state-dir')).to.not.throw();
  });

  it('should refuse, naming the option, a path under a file', () => {
    const file = path.join(tmp, 'f');
    writeFileSync(file, '');
    for (const dir of [file, path.join(file, 'sub')]) {
      try {
        ensureUsableDirectory(dir, '--state-dir');
        expect.fail(`${dir} accepted`);
      } catch (e) {
        expect(HostdError.is(e) && e.code).to.equal('ERR_STARTUP');
        expect((e as Error).message).to.match(
          /^--state-dir .* cannot be used: .*is not a directory/,
        );
      }
    }
  });

  it('should refuse at once a directory the kernel will not create (Node recursive mkdir spins on /proc)', function () {
    if (process.platform !== 'linux') this.skip();
    const started = Date.now();
    expect(() => ensureUsableDirectory('/proc/nope/deeper', '--state-dir')).to.throw(
      /--state-dir \/proc\/nope\/deeper cannot be used: cannot create \/proc\/nope: no such file or directory/,
    );
    expect(Date.now() - started).to.be.below(1000);
  });
});
