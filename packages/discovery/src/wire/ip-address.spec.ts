import { expect } from 'chai';
import { DiscoveryError } from '../errors/discovery-error.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip-address.js';

describe('ip-address', () => {
  describe('parseIPv4 / formatIPv4', () => {
    it('should round-trip dotted quads', () => {
      expect(formatIPv4(parseIPv4('224.244.224.245'))).to.equal('224.244.224.245');
    });

    it('should reject out-of-range, short and leading-zero forms', () => {
      for (const bad of ['256.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', 'a.b.c.d', ''])
        expect(() => parseIPv4(bad), bad).to.throw(DiscoveryError);
    });
  });

  describe('parseIPv6 / formatIPv6', () => {
    it('should write RFC 5952 canonical text', () => {
      expect(formatIPv6(parseIPv6('FD00:0:0:0:0:0:0:1'))).to.equal('fd00::1');
      expect(formatIPv6(parseIPv6('::'))).to.equal('::');
      expect(formatIPv6(parseIPv6('1:0:0:2:0:0:0:3'))).to.equal('1:0:0:2::3');
      expect(formatIPv6(parseIPv6('1:2:3:4:5:6:7:8'))).to.equal('1:2:3:4:5:6:7:8');
      expect(formatIPv6(parseIPv6('1:0:3:4:5:6:7:8'))).to.equal('1:0:3:4:5:6:7:8');
      expect(formatIPv6(parseIPv6('::ffff:10.0.0.1'))).to.equal('::ffff:a00:1');
    });

    it('should reject two "::", too many groups and bad hex', () => {
      for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7', '12345::'])
        expect(() => parseIPv6(bad), bad).to.throw(DiscoveryError);
    });
  });
});
