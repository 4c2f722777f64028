import { expect } from 'chai';
import { RuntimeError } from '../errors/runtime-error.js';
import { handshakeAborted } from '../node/channel-broker-client.js';
import { ConnectBackoff, refusalKind, type RefusalKind } from './connect-backoff.js';

/** The default handshake budget of a VM whose services.yaml sets none: 20/s, burst 5. */
const RATE = 20;
const BURST = 5;

describe('ConnectBackoff', () => {
  it('should double the delay per refusal, half of it random, up to the cap of the refusal kind, and start over after a success', () => {
    const low = new ConnectBackoff({}, () => 0);
    const high = new ConnectBackoff({}, () => 0.999999);
    const lows = Array.from({ length: 10 }, () => low.next('transient'));
    const highs = Array.from({ length: 10 }, () => high.next('noSpace'));
    expect(lows).to.deep.equal([50, 100, 200, 400, 800, 1600, 2500, 2500, 2500, 2500]);
    expect(highs).to.deep.equal([100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000]);
    low.reset();
    expect(low.next('overBudget')).to.equal(200);
  });

  it('should tell no room, over budget and transient refusals apart', () => {
    expect(refusalKind(handshakeAborted('noSpace', 'the channel table is full'))).to.equal(
      'noSpace',
    );
    expect(handshakeAborted('noSpace', 'the channel table is full').code).to.equal('ERR_NO_SPACE');
    expect(refusalKind(handshakeAborted('rateLimited', ''))).to.equal('overBudget');
    expect(refusalKind(handshakeAborted('tooManyPending', ''))).to.equal('overBudget');
    expect(refusalKind(handshakeAborted('timeout', ''))).to.equal('transient');
    expect(refusalKind(new RuntimeError('ERR_TIMEOUT', 'no answer'))).to.equal('transient');
  });

  it('should keep 64 services refused for lack of room for a minute within the default handshake budget, at under half of it once backed off', () => {
    // Virtual time: every service retries when its back-off says; each attempt is one M1.
    const random = (
      (seed) => () =>
        (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
    )(7);
    const services = Array.from({ length: 64 }, () => ({
      backoff: new ConnectBackoff({}, random),
      at: 0,
    }));
    const attempts: number[] = [];
    const kind: RefusalKind = 'noSpace';
    for (;;) {
      const s = services.reduce((a, b) => (b.at < a.at ? b : a));
      if (s.at > 60_000) break;
      attempts.push(s.at);
      s.at += s.backoff.next(kind);
    }
    expect(attempts.length).to.be.at.most(BURST + RATE * 60);
    const lastHalf = attempts.filter((t) => t >= 30_000).length;
    expect(lastHalf / 30).to.be.below(RATE / 2);
  });
});
