import { expect } from 'chai';
import { DropBurst } from './drop-burst.js';

describe('DropBurst', () => {
  it('should report the first drop of a burst, count the rest, and end the burst only after the quiet time', () => {
    const b = new DropBurst(1000);
    expect(b.active).to.equal(false);
    expect(b.endIfQuiet(0)).to.equal(undefined);
    expect([b.drop(10), b.drop(20), b.drop(900)]).to.deep.equal([true, false, false]);
    expect(b.active).to.equal(true);
    expect(b.endIfQuiet(1899)).to.equal(undefined);
    expect(b.endIfQuiet(1900)).to.equal(3);
    expect(b.active).to.equal(false);
    expect(b.drop(2000)).to.equal(true);
  });
});
