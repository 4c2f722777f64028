// `sivshm top`'s mistakes: one line each, usage errors exit 2, no hostd exits 1.
import { expect } from 'chai';
import { runCliSync } from '@sivshm/testing';

describe('sivshm top: mistakes', () => {
  it('should say in one line that no hostd answers at --run-dir, exit 1', () => {
    const r = runCliSync(['top', '--run-dir', '/nonexistent-sivshm-run', '--once']);
    expect(r.status).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal(
      "sivshm top: cannot read hostd's status at /nonexistent-sivshm-run/status.sock (no such file or directory); is hostd running with this --run-dir?\n",
    );
  });

  it('should refuse an --interval below 100 ms as a usage error, exit 2', () => {
    const r = runCliSync(['top', '--interval', '5', '--once']);
    expect(r.status).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^sivshm top: .*interval "5" must be a whole number 100\.\.60000/);
  });
});
