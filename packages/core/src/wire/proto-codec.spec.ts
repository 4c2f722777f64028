import { expect } from 'chai';
import fc from 'fast-check';
import { decodeProto, encodeProto } from './proto-codec.js';

describe('proto-codec', () => {
  describe('encodeProto', () => {
    it('should keep a string field that holds "0" and drop a 64-bit field that is "0"', () => {
      const bytes = encodeProto('AbortBody', {
        channelId: '0',
        reqSeq: '7',
        reason: 3,
        detail: '0',
      });
      const back = decodeProto('AbortBody', bytes);
      expect(back['detail']).to.equal('0');
      expect(String(back['reqSeq'])).to.equal('7');
      // channel_id 0 is the default: absent on the wire, so one value has one encoding.
      expect(bytes).to.deep.equal(
        encodeProto('AbortBody', { reqSeq: '7', reason: 3, detail: '0' }),
      );
    });

    it('should give back every string detail it was given', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), (detail) => {
          const back = decodeProto('AbortBody', encodeProto('AbortBody', { reason: 1, detail }));
          expect(back['detail'] ?? '').to.equal(detail);
        }),
        { numRuns: 500, seed: 2026 },
      );
    });
  });
});
