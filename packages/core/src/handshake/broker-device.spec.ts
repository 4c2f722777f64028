// The broker's side of isolation: device (issue 18, docs/protocol.md §10): a device channel's
// M2 and both grants name its window in the channel's own memory (target device), a region
// channel's name its reserved region window, and both ends' checks accept either.
import { expect } from 'chai';
import { nodeBackend } from '../crypto/node-backend.js';
import { decodeGrant } from '../grant/grant-token.js';
import {
  granted,
  HandshakeWorld,
  runHandshake,
  WINDOW_LENGTH,
} from '../../test/helpers/handshake-world.js';

function grantsOf(world: HandshakeWorld) {
  const run = runHandshake(world);
  const consumer = granted(run.consumerEffects);
  const provider = granted(run.providerEffects);
  expect(consumer, 'the consumer accepted its grant').not.to.equal(undefined);
  expect(provider, 'the provider accepted its grant').not.to.equal(undefined);
  const decode = (bytes: Uint8Array) => {
    const d = decodeGrant(bytes);
    if (!d.ok) throw new Error(`grant does not decode: ${d.reason}`);
    return d.token;
  };
  return { consumer: decode(consumer!.grantToken), provider: decode(provider!.grantToken) };
}

describe('broker: device channels', () => {
  it("should name a device channel's own memory in both grants, and the region for any other", () => {
    const device = new HandshakeWorld({ crypto: nodeBackend, deviceWindowOffset: () => 4096n });
    const d = grantsOf(device);
    for (const t of [d.consumer, d.provider]) {
      expect(t).to.include({ target: 'device', windowOffset: 4096n, windowLength: WINDOW_LENGTH });
    }
    expect(device.reserved[0]!.offset, 'a region window is still reserved').not.to.equal(4096n);

    const region = new HandshakeWorld({ crypto: nodeBackend });
    const r = grantsOf(region);
    for (const t of [r.consumer, r.provider]) {
      expect(t).not.to.have.property('target');
      expect(t.windowOffset).to.equal(region.reserved[0]!.offset);
    }
  });

  it('should decide per channel: only the channels the hook names get device grants', () => {
    const world = new HandshakeWorld({
      crypto: nodeBackend,
      deviceWindowOffset: (ch) => (ch.instance === 2 ? 4096n : undefined),
    });
    const one = runHandshake(world, { instance: 1 });
    const two = runHandshake(world, { instance: 2 });
    const target = (effects: typeof one.consumerEffects) => {
      const g = decodeGrant(granted(effects)!.grantToken);
      return g.ok ? (g.token.target ?? 'region') : g.reason;
    };
    expect([target(one.consumerEffects), target(two.consumerEffects)]).to.deep.equal([
      'region',
      'device',
    ]);
  });
});
