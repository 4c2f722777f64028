import { expect } from 'chai';

import { RecordLayout, maxPayloadFor, recordSize } from './ring-layout.js';
import { SOMEIP_HEADER_SIZE } from './someip-header.js';

describe('ring layout', () => {
  it('should frame a record as a SOME/IP header plus payload, padded to 8 bytes', () => {
    expect(RecordLayout.headerSize).to.equal(SOMEIP_HEADER_SIZE);
    expect(recordSize(0)).to.equal(16);
    expect(recordSize(1)).to.equal(24);
    expect(recordSize(8)).to.equal(24);
    expect(recordSize(9)).to.equal(32);
  });

  it('should cap a payload so that a record takes at most half the data area', () => {
    for (const dataSize of [4096, 1 << 16, 1 << 30]) {
      const max = maxPayloadFor(dataSize);
      expect(recordSize(max)).to.equal(dataSize / 2);
    }
  });

  it('should make the wrap marker smaller than any record', () => {
    expect(RecordLayout.wrapMarkerSize).to.be.below(recordSize(0));
  });
});
