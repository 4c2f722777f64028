import { expect } from 'chai';
import { DEFAULT_SD_TIMING } from '@sivshm/discovery';
import { offerTtlFor } from './offer-ttl.js';

describe('offerTtlFor', () => {
  it('should keep the SD default TTL when no peer timeout was asked for', () => {
    expect(offerTtlFor(undefined)).to.equal(DEFAULT_SD_TIMING.offerTtl);
  });

  it('should never go below the SD default for short peer timeouts', () => {
    expect(offerTtlFor(100)).to.equal(DEFAULT_SD_TIMING.offerTtl);
    expect(offerTtlFor(1000)).to.equal(DEFAULT_SD_TIMING.offerTtl);
  });

  it('should let an offer outlive a stall as long as the peer timeout, rounded up to seconds', () => {
    expect(offerTtlFor(10_000)).to.equal(10);
    expect(offerTtlFor(10_001)).to.equal(11);
    expect(offerTtlFor(60_000)).to.equal(60);
  });
});
