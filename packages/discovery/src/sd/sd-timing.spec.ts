import { expect } from 'chai';
import { DiscoveryError } from '../errors/discovery-error.js';
import { DEFAULT_SD_TIMING, resolveSdTiming } from './sd-timing.js';

describe('resolveSdTiming', () => {
  describe('(defaults and ranges)', () => {
    it('should fill in defaults', () => {
      expect(resolveSdTiming({ cyclicOfferDelay: 2000 })).to.deep.equal({
        ...DEFAULT_SD_TIMING,
        cyclicOfferDelay: 2000,
      });
    });

    it('should reject out-of-range values, naming the parameter and the range', () => {
      expect(() => resolveSdTiming({ initialDelayMin: 50, initialDelayMax: 10 })).to.throw(
        DiscoveryError,
        /initialDelayMax = 10 is outside 50\.\./,
      );
      expect(() => resolveSdTiming({ offerTtl: 0 })).to.throw(/offerTtl = 0/);
      expect(() => resolveSdTiming({ repetitionsMax: 1.5 })).to.throw(/repetitionsMax/);
      expect(() => resolveSdTiming({ cyclicOfferDelay: 0 })).to.throw(/cyclicOfferDelay/);
    });
  });
});
