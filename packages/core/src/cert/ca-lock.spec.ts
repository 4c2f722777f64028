import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { CaLock, CaLockedError } from './ca-lock.js';

describe('CaLock', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(os.tmpdir(), 'sivshm-ca-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('should let one holder in, name it to the next, and free the directory on release', () => {
    const lock = CaLock.take(dir, { owner: 'hostd', adminSocket: '/run/x/admin.sock' });
    expect(CaLock.holder(dir)).to.deep.equal({
      pid: process.pid,
      owner: 'hostd',
      adminSocket: '/run/x/admin.sock',
    });
    let refused: unknown;
    try {
      CaLock.take(dir, { owner: 'sivshm ca' });
    } catch (e) {
      refused = e;
    }
    expect(refused).to.be.instanceOf(CaLockedError);
    expect((refused as CaLockedError).code).to.equal('ERR_CA_LOCKED');
    expect((refused as CaLockedError).holder.owner).to.equal('hostd');
    expect((refused as Error).message).to.match(/held by the running hostd \(pid \d+\)/);
    lock.release();
    expect(existsSync(join(dir, 'ca.lock'))).to.equal(false);
    CaLock.take(dir, { owner: 'sivshm ca' }).release();
  });

  it('should take over the lock of a holder that died, and ignore a lock it cannot read', () => {
    // Pid 2^22+1 is above Linux's pid_max ceiling: no such process.
    writeFileSync(join(dir, 'ca.lock'), JSON.stringify({ pid: 4194305, owner: 'hostd' }));
    expect(CaLock.holder(dir)).to.equal(undefined);
    CaLock.take(dir, { owner: 'sivshm ca' }).release();
    writeFileSync(join(dir, 'ca.lock'), 'garbage');
    CaLock.take(dir, { owner: 'sivshm ca' }).release();
    expect(existsSync(join(dir, 'ca.lock'))).to.equal(false);
  });
});
