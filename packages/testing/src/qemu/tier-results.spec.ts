import { expect } from 'chai';
import { TierResults, selectedGroups } from './tier-results.js';

describe('TierResults', () => {
  it("should print one line a check and the tier's summary line, and fail on a failed check", () => {
    const lines: string[] = [];
    const r = new TierResults((l) => lines.push(l));
    expect(r.record('a', true)).to.equal(true);
    expect(r.record('b', false, 'why')).to.equal(false);
    r.skip('c', 'not here');
    expect(r.finish()).to.equal(1);
    expect(lines).to.deep.equal([
      'ok a',
      'not ok b: why',
      'skip c: not here',
      '1 passed, 1 failed, 1 skipped',
    ]);
  });

  it("should prefix the names recorded through a scope and count them in the tier's summary", () => {
    const lines: string[] = [];
    const r = new TierResults((l) => lines.push(l));
    const k = r.scope('6.12/');
    k.record('consumer/grant-accepted', true);
    k.scope('aead/').record('no-plaintext-marker-in-region-file', false, 'found');
    k.skip('node-group', 'not asked');
    r.record('vm-tier-preflight', true);
    expect(r.finish()).to.equal(1);
    expect(lines).to.deep.equal([
      'ok 6.12/consumer/grant-accepted',
      'not ok 6.12/aead/no-plaintext-marker-in-region-file: found',
      'skip 6.12/node-group: not asked',
      'ok vm-tier-preflight',
      '2 passed, 1 failed, 1 skipped',
    ]);
  });

  it('should select the groups SIVSHM_VM_ONLY names and record the others as skipped', () => {
    const lines: string[] = [];
    const r = new TierResults((l) => lines.push(l));
    const g = selectedGroups(['plain', 'doorbell', 'node'], r, 'node');
    expect([...g]).to.deep.equal(['node']);
    expect(lines).to.deep.equal([
      'skip plain-group: SIVSHM_VM_ONLY=node',
      'skip doorbell-group: SIVSHM_VM_ONLY=node',
    ]);
    expect([...selectedGroups(['qemu'], r, undefined)]).to.deep.equal(['qemu']);
  });
});
