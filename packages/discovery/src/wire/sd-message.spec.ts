import { expect } from 'chai';
import { fixtureBytes, hex } from '../../test/support/fixtures.js';
import { DiscoveryError } from '../errors/discovery-error.js';
import { decodeSdMessage, encodeSdMessage, type SdMessage } from './sd-message.js';

function decodeError(bytes: Uint8Array): DiscoveryError {
  try {
    decodeSdMessage(bytes);
  } catch (e) {
    if (DiscoveryError.is(e)) return e;
    throw e;
  }
  throw new Error('decode accepted a malformed message');
}

/** A copy of `b` with `patch` bytes written at `at`. */
function patched(b: Uint8Array, at: number, patch: number[]): Uint8Array {
  const c = b.slice();
  c.set(patch, at);
  return c;
}

/** A copy with the SOME/IP Length fixed to the new size (for tests that change the size). */
function withLength(b: Uint8Array): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(4, c.length - 8);
  return c;
}

describe('SdMessage codec', () => {
  describe('decodeSdMessage (golden packets)', () => {
    it('should decode the real vsomeip Offer (test/fixtures/vsomeip-offer.hex)', () => {
      const m = decodeSdMessage(fixtureBytes('vsomeip-offer'));
      expect(m.sessionId).to.equal(1);
      expect(m.flags).to.deep.equal({
        reboot: true,
        unicast: true,
        explicitInitialDataControl: false,
      });
      expect(m.entries).to.deep.equal([
        {
          type: 'offer',
          serviceId: 0x1234,
          instanceId: 0x5678,
          majorVersion: 0,
          ttl: 3,
          minorVersion: 0,
          run1: { index: 0, count: 1 },
          run2: { index: 0, count: 0 },
        },
      ]);
      expect(m.options).to.deep.equal([
        { type: 'ipv4Endpoint', address: '127.0.0.1', protocol: 'udp', port: 30509 },
      ]);
    });

    it('should decode a vsomeip-style Find with every wildcard', () => {
      const m = decodeSdMessage(fixtureBytes('vsomeip-find'));
      expect(m.entries[0]).to.include({
        type: 'find',
        serviceId: 0x1234,
        instanceId: 0x5678,
        majorVersion: 0xff,
        ttl: 0xffffff,
        minorVersion: 0xffffffff,
      });
      expect(m.options).to.have.length(0);
    });

    it('should name an Offer with TTL 0 a stopOffer', () => {
      expect(decodeSdMessage(fixtureBytes('stop-offer')).entries[0]?.type).to.equal('stopOffer');
    });

    it('should decode a Subscribe with its endpoint, an Ack with a multicast group, a Nack', () => {
      const sub = decodeSdMessage(fixtureBytes('subscribe'));
      expect(sub.entries[0]).to.include({
        type: 'subscribe',
        eventgroupId: 0x4465,
        counter: 0,
        ttl: 3,
      });
      expect(sub.options[0]).to.deep.equal({
        type: 'ipv4Endpoint',
        address: '127.0.0.2',
        protocol: 'udp',
        port: 40000,
      });
      const ack = decodeSdMessage(fixtureBytes('subscribe-ack-multicast'));
      expect(ack.entries[0]).to.include({ type: 'subscribeAck', counter: 2, eventgroupId: 0x4465 });
      expect(ack.options[0]).to.deep.equal({
        type: 'ipv4Multicast',
        address: '224.244.224.245',
        protocol: 'udp',
        port: 30491,
      });
      const nack = decodeSdMessage(fixtureBytes('subscribe-nack'));
      expect(nack.entries[0]).to.include({ type: 'subscribeNack', ttl: 0 });
    });

    it('should decode configuration, load balancing, IPv6 endpoint and SD endpoint options', () => {
      const m = decodeSdMessage(fixtureBytes('offer-ipv6-config-lb-sd-endpoint'));
      expect(m.flags.reboot).to.equal(false);
      expect(m.sessionId).to.equal(0x102);
      expect(m.options).to.deep.equal([
        { type: 'ipv4SdEndpoint', address: '10.0.0.1', protocol: 'udp', port: 30490 },
        { type: 'configuration', items: [{ key: 'abc', value: 'x' }, { key: 'flag' }] },
        { type: 'loadBalancing', priority: 1, weight: 100 },
        { type: 'ipv6Endpoint', address: 'fd00::1', protocol: 'tcp', port: 30501 },
      ]);
      expect(m.entries[0]?.run1).to.deep.equal({ index: 1, count: 3 });
    });

    it('should keep an unknown option raw and a StopSubscribe+Subscribe pair in order', () => {
      const m = decodeSdMessage(fixtureBytes('offer-unknown-option'));
      expect(m.options[0]).to.deep.equal({
        type: 'unknown',
        optionType: 0x20,
        data: new Uint8Array([0x00, 0x12, 0x34]),
      });
      const pair = decodeSdMessage(fixtureBytes('stop-subscribe-pair'));
      expect(pair.entries.map((e) => e.type)).to.deep.equal(['stopSubscribe', 'subscribe']);
    });
  });

  describe('encodeSdMessage (round trips)', () => {
    for (const name of [
      'vsomeip-offer',
      'vsomeip-find',
      'stop-offer',
      'subscribe',
      'subscribe-ack-multicast',
      'subscribe-nack',
      'offer-ipv6-config-lb-sd-endpoint',
      'offer-unknown-option',
      'stop-subscribe-pair',
    ]) {
      it(`should re-encode golden packet ${name} to identical bytes`, () => {
        const bytes = fixtureBytes(name);
        expect(hex(encodeSdMessage(decodeSdMessage(bytes)))).to.equal(hex(bytes));
      });
    }

    it('should refuse to encode a message that breaks a rule, naming the rule', () => {
      const m = decodeSdMessage(fixtureBytes('vsomeip-offer'));
      const bad: SdMessage = { ...m, options: [] };
      expect(() => encodeSdMessage(bad))
        .to.throw(DiscoveryError)
        .with.property('code', 'ERR_SD_ENCODE');
    });
  });

  describe('decodeSdMessage (one malformed input per rule)', () => {
    const offer = (): Uint8Array => fixtureBytes('vsomeip-offer');

    it('should reject fewer than 28 bytes', () => {
      const e = decodeError(offer().subarray(0, 27));
      expect(e.code).to.equal('ERR_SD_TRUNCATED');
      expect(e.offset).to.equal(0);
    });

    it('should reject a Message ID other than 0xFFFF8100', () => {
      const e = decodeError(patched(offer(), 2, [0x81, 0x01]));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_HEADER', 0]);
      expect(e.message).to.match(/SD byte 0: Message ID 0xffff8101/);
    });

    it('should reject a SOME/IP Length that disagrees with the datagram', () => {
      const e = decodeError(patched(offer(), 4, [0, 0, 0, 0x31]));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_LENGTH', 4]);
    });

    it('should reject a Client ID other than 0', () => {
      expect(decodeError(patched(offer(), 8, [0, 1])).offset).to.equal(8);
    });

    it('should reject Session ID 0', () => {
      expect(decodeError(patched(offer(), 10, [0, 0])).offset).to.equal(10);
    });

    it('should reject Protocol Version ≠ 1, Interface Version ≠ 1, Message Type ≠ 0x02, Return Code ≠ 0', () => {
      expect(decodeError(patched(offer(), 12, [2])).offset).to.equal(12);
      expect(decodeError(patched(offer(), 13, [0])).offset).to.equal(13);
      expect(decodeError(patched(offer(), 14, [0x00])).offset).to.equal(14);
      expect(decodeError(patched(offer(), 15, [0x01])).offset).to.equal(15);
    });

    it('should reject an entries array length that is not a multiple of 16', () => {
      const e = decodeError(patched(offer(), 20, [0, 0, 0, 17]));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_LENGTH', 20]);
    });

    it('should reject an entries array that overruns the message', () => {
      const e = decodeError(patched(offer(), 20, [0, 0, 0, 0x40]));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_LENGTH', 20]);
      expect(e.message).to.match(/overruns/);
    });

    it('should reject an unknown entry type (0x03, 0x08..0xFF) like vsomeip', () => {
      for (const t of [0x03, 0x08, 0x40, 0xff]) {
        const e = decodeError(patched(offer(), 24, [t]));
        expect([e.code, e.offset]).to.deep.equal(['ERR_SD_ENTRY', 24]);
      }
    });

    it('should reject an options array length that overruns the message', () => {
      const e = decodeError(patched(offer(), 40, [0, 0, 0, 13]));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_LENGTH', 40]);
    });

    it('should reject bytes after the options array', () => {
      const b = new Uint8Array(offer().length + 2);
      b.set(offer());
      const e = decodeError(withLength(b));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_LENGTH', 40]);
      expect(e.message).to.match(/unexplained/);
    });

    it('should reject an option Length that runs past the options array', () => {
      const e = decodeError(patched(offer(), 44, [0, 10]));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_OPTION', 44]);
    });

    it('should reject an option Length of 0', () => {
      // Options array: one unknown option with Length 0 (3 bytes).
      const b = withLength(
        new Uint8Array([...offer().subarray(0, 40), 0, 0, 0, 3, 0x00, 0x00, 0x77]),
      );
      const e = decodeError(b);
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_OPTION', 44]);
    });

    it('should reject an options array that ends inside an option header', () => {
      const b = withLength(new Uint8Array([...offer().subarray(0, 40), 0, 0, 0, 2, 0x00, 0x09]));
      expect(decodeError(b).code).to.equal('ERR_SD_TRUNCATED');
    });

    it('should reject an IPv4 option whose Length is not 9', () => {
      const base = offer();
      const opt = [0x00, 0x0a, 0x04, 0, 127, 0, 0, 1, 0, 0x11, 0x77, 0x2d, 0];
      const b = withLength(new Uint8Array([...base.subarray(0, 40), 0, 0, 0, 13, ...opt]));
      const e = decodeError(b);
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_OPTION', 44]);
      expect(e.message).to.match(/Length 10.*Length 9/);
    });

    it('should reject an IPv6 option whose Length is not 21', () => {
      const opt = [0x00, 0x09, 0x06, 0, 127, 0, 0, 1, 0, 0x11, 0x77, 0x2d];
      const b = withLength(new Uint8Array([...offer().subarray(0, 40), 0, 0, 0, 12, ...opt]));
      expect(decodeError(b).message).to.match(/IPv6 endpoint option has Length 9/);
    });

    it('should reject a load balancing option whose Length is not 5', () => {
      const opt = [0x00, 0x04, 0x02, 0, 0, 1, 0];
      const b = withLength(new Uint8Array([...offer().subarray(0, 40), 0, 0, 0, 7, ...opt]));
      expect(decodeError(b).message).to.match(/load balancing option has Length 4/);
    });

    it('should reject an endpoint L4 protocol other than TCP or UDP', () => {
      const e = decodeError(patched(offer(), 53, [0x01]));
      expect([e.code, e.offset]).to.deep.equal(['ERR_SD_OPTION', 53]);
    });

    it('should reject TCP in a multicast or SD endpoint option', () => {
      const ack = patched(fixtureBytes('subscribe-ack-multicast'), 53, [0x06]);
      expect(decodeError(ack).message).to.match(/only 0x11 UDP/);
    });

    describe('configuration option', () => {
      const cfg = (body: number[]): Uint8Array => {
        const opt = [(body.length >> 8) & 0xff, body.length & 0xff, 0x01, ...body];
        const base = offer().subarray(0, 40);
        return withLength(new Uint8Array([...base, 0, 0, 0, opt.length, ...opt]));
      };

      it('should reject a missing terminating zero byte', () => {
        expect(decodeError(cfg([0, 1, 0x61])).message).to.match(/without its terminating/);
      });

      it('should reject a string length that runs past the option (vsomeip PR #1042)', () => {
        const e = decodeError(cfg([0, 5, 0x61, 0x62, 0]));
        expect([e.code, e.offset]).to.deep.equal(['ERR_SD_OPTION', 48]);
      });

      it('should reject a key that is empty or starts with "="', () => {
        expect(decodeError(cfg([0, 2, 0x3d, 0x61, 0])).message).to.match(/at least one character/);
      });

      it('should reject a key with a non-printable character', () => {
        expect(decodeError(cfg([0, 2, 0x61, 0x07, 0])).message).to.match(/printable/);
      });

      it('should reject bytes after the terminator', () => {
        expect(decodeError(cfg([0, 1, 0x61, 0, 0x62])).message).to.match(/follow/);
      });

      it('should reject a value that is not UTF-8', () => {
        expect(decodeError(cfg([0, 3, 0x61, 0x3d, 0xff, 0])).message).to.match(/UTF-8/);
      });

      it('should accept a key with an empty value and duplicate keys', () => {
        const m = decodeSdMessage(cfg([0, 2, 0x61, 0x3d, 1, 0x61, 0]));
        expect(m.options[0]).to.deep.equal({
          type: 'configuration',
          items: [{ key: 'a', value: '' }, { key: 'a' }],
        });
      });
    });
  });
});
