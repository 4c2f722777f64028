import { expect } from 'chai';
import { WorkBudget } from './work-budget.js';

describe('WorkBudget', () => {
  describe('.take', () => {
    it('should charge several tokens at once, refuse a charge bigger than what is left without taking any, and refill at its rate', () => {
      let now = 0;
      const b = new WorkBudget(100, 10, () => now);
      expect(b.take(8)).to.equal(true);
      expect(b.take(3)).to.equal(false); // 2 left: refused whole
      expect(b.take(2)).to.equal(true);
      now += 50; // 5 tokens back
      expect(b.take(6)).to.equal(false);
      expect(b.take(5)).to.equal(true);
      now += 10_000; // never more than the burst
      expect(b.take(11)).to.equal(false);
      expect(b.take(10)).to.equal(true);
    });
  });
});
