// Issue 20: a provider VM with 256 service instances and a consumer of all of them, as real
// processes through hostd, connect without churn. hostd's SD budget and the handshake limits
// are the ones derived from this services.yaml (nothing raised by hand). The speed of it is
// measured by `npm run bench -- scale`, not here.
import { expect } from 'chai';
import { runScale } from '../bench/scale/scale-run.js';

describe('256 service instances between two VM processes (issue 20)', function () {
  this.timeout(240_000);

  it('should establish each channel exactly once, drop no SD, let no offer expire and answer every call', async () => {
    const r = await runScale({
      providers: 1,
      servicesPerProvider: 1,
      instancesPerService: 256,
      // Past one offer TTL (3 s): an Offer lost on the way would have expired by then.
      watchMs: 3500,
      timeoutMs: 180_000,
    });
    const why = [
      `handshakes aborted at hostd: ${r.handshakesAborted}; p50/p99 ${r.handshakeP50Ms}/${r.handshakeP99Ms} ms`,
      ...r.channelsEnded,
      ...r.hostdWarnings,
    ].join('\n');
    expect(r.channels).to.equal(256);
    expect(r.connectionsMax, `channels re-established\n${why}`).to.equal(1);
    expect(r.handshakesEstablished, why).to.equal(256);
    expect(r.sdDropped, `SD dropped\n${why}`).to.equal(0);
    expect(r.ttlExpiredClosings, why).to.equal(0);
    expect(r.callsAnswered, r.callErrors.join('; ')).to.equal(256);
  });
});
