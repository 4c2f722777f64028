import { expect } from 'chai';
import fc from 'fast-check';
import { sdMessage } from '../../test/support/arbitraries.js';
import { fixtureBytes } from '../../test/support/fixtures.js';
import { DiscoveryError } from '../errors/discovery-error.js';
import { decodeSdMessage, encodeSdMessage } from '../wire/sd-message.js';
import { sdMessageFromJson, sdMessageToJson } from './sd-json.js';

describe('SD JSON shape', () => {
  describe('sdMessageToJson / sdMessageFromJson', () => {
    it('should round-trip any valid message through JSON text', () => {
      fc.assert(
        fc.property(sdMessage, (m) => {
          const text = JSON.stringify(sdMessageToJson(m));
          expect(encodeSdMessage(sdMessageFromJson(JSON.parse(text)))).to.deep.equal(
            encodeSdMessage(m),
          );
        }),
        { numRuns: 300 },
      );
    });

    it('should write an unknown option as hex and read it back', () => {
      const m = decodeSdMessage(fixtureBytes('offer-unknown-option'));
      const json = sdMessageToJson(m);
      expect(json.options[0]).to.deep.equal({ type: 'unknown', optionType: 0x20, data: '001234' });
      expect(sdMessageFromJson(JSON.parse(JSON.stringify(json)))).to.deep.equal(m);
    });

    it('should accept "0x…" ids, a missing run, and a stop entry without ttl', () => {
      const m = sdMessageFromJson({
        sessionId: '0x10',
        flags: { reboot: false, unicast: true },
        entries: [
          {
            type: 'stopSubscribe',
            serviceId: '0x1234',
            instanceId: 1,
            majorVersion: 1,
            eventgroupId: '0xff',
          },
        ],
      });
      expect(m.sessionId).to.equal(16);
      expect(m.entries[0]).to.include({ ttl: 0, eventgroupId: 255, counter: 0 });
      expect(m.entries[0]?.run1).to.deep.equal({ index: 0, count: 0 });
    });

    it('should name the path of a bad field', () => {
      const bad = (v: unknown, re: RegExp): void => {
        expect(() => sdMessageFromJson(v))
          .to.throw(DiscoveryError, re)
          .with.property('code', 'ERR_SD_JSON');
      };
      bad([], /\$: must be an object/);
      bad({ sessionId: 1, flags: { reboot: 1, unicast: true }, entries: [] }, /\$\.flags\.reboot/);
      bad(
        { sessionId: 1, flags: { reboot: true, unicast: true }, entries: [{ type: 'offerx' }] },
        /\$\.entries\[0\]\.type: "offerx" is not an entry type/,
      );
      bad(
        {
          sessionId: 1,
          flags: { reboot: true, unicast: true },
          entries: [],
          options: [{ type: 'ipv4Endpoint', address: '1.2.3.4', protocol: 'sctp', port: 1 }],
        },
        /\$\.options\[0\]\.protocol/,
      );
      bad({ sessionId: -1, flags: {}, entries: [] }, /\$\.sessionId/);
    });
  });
});
