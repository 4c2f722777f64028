// A certificate at the rights cap must still go through a whole handshake: M2 carries the
// consumer's certificate and M4 carries M2's body and the provider's certificate, so two
// certificates at their widest travel in one message.
import { expect } from 'chai';
import { MAX_CONTROL_FRAME_SIZE } from '../control/control-frame.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { MAX_HANDSHAKE_BYTES } from '../handshake/handshake-messages.js';
import {
  CONSUMER_VM,
  HandshakeWorld,
  SERVICE,
  granted,
  runHandshake,
} from '../../test/helpers/handshake-world.js';
import { encodeCertificate } from './certificate.js';
import { MAX_RIGHTS_PER_LIST, type Rights } from './rights.js';

/** `MAX_RIGHTS_PER_LIST` rights per list, every number in 3-byte varints, `SERVICE` included. */
function widestRights(): Rights {
  const services = [
    SERVICE,
    ...Array.from({ length: MAX_RIGHTS_PER_LIST - 1 }, (_, i) => 0xfc00 + i),
  ];
  return {
    offers: services.map((service) => ({ service, instanceLo: 1, instanceHi: 0xfffe })),
    requests: services.map((service) => ({
      service,
      instanceLo: 1,
      instanceHi: 0xfffe,
      methodLo: 0x4000,
      methodHi: 0xfffe,
    })),
  };
}

describe('certificate rights capacity', () => {
  it(`should hold ${MAX_RIGHTS_PER_LIST} offer and request rights (≥ 512, issue 20)`, () => {
    expect(MAX_RIGHTS_PER_LIST).to.be.at.least(512);
  });

  it('should run a whole handshake with both certificates at the cap, every message within the handshake and control-frame limits', () => {
    const rights = widestRights();
    const world = new HandshakeWorld({ crypto: nodeBackend, providerRights: rights });
    const consumer = world.identity(CONSUMER_VM, 'cluster', rights);
    const certBytes = encodeCertificate(consumer.certificate).length;
    const res = runHandshake(world, { consumer });
    expect(granted(res.consumerEffects), 'consumer granted').to.not.equal(undefined);
    expect(granted(res.providerEffects), 'provider granted').to.not.equal(undefined);
    const largest = Math.max(...res.wire.map((w) => w.bytes.length));
    expect(largest).to.be.greaterThan(2 * certBytes);
    expect(largest).to.be.at.most(MAX_HANDSHAKE_BYTES);
    // A handshake message travels in a control frame with a few bytes of framing.
    expect(MAX_HANDSHAKE_BYTES + 64).to.be.at.most(MAX_CONTROL_FRAME_SIZE);
  });
});
