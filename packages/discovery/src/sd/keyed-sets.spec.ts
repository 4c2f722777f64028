import { expect } from 'chai';
import { KeyedSets } from './keyed-sets.js';

describe('KeyedSets', () => {
  it('should give the members under a key in the order added, and none for an unknown key', () => {
    const s = new KeyedSets<string>();
    s.add('a', 'x');
    s.add('b', 'y');
    s.add('a', 'z');
    s.add('a', 'x');
    expect([...s.get('a')]).to.deep.equal(['x', 'z']);
    expect([...s.get('b')]).to.deep.equal(['y']);
    expect([...s.get('c')]).to.deep.equal([]);
  });

  it('should forget a member, an emptied key and everything on clear', () => {
    const s = new KeyedSets<number>();
    s.add('a', 1);
    s.add('a', 2);
    s.delete('a', 1);
    s.delete('b', 1);
    expect([...s.get('a')]).to.deep.equal([2]);
    s.delete('a', 2);
    expect([...s.get('a')]).to.deep.equal([]);
    s.add('c', 3);
    s.clear();
    expect([...s.get('c')]).to.deep.equal([]);
  });
});
