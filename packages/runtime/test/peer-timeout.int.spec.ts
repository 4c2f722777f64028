// Node.open's peerTimeoutMs: how long a channel's peer may show no heartbeat and no ring
// progress before the channel ends as peer-gone. A guest whose vCPUs stall (TCG, a loaded host)
// needs more than the default 1 s; the provider VM here is stopped outright (SIGSTOP).
import { expect } from 'chai';
import { Node, RuntimeError } from '../src/index.js';
import { setUpEachTest, waitFor } from './support/deployment.js';

/** Longer than the default peer timeout, with room for a loaded machine's timer lag. */
const STALL_MS = 2500;

describe('Node.open peerTimeoutMs', function () {
  this.timeout(60_000);
  // The provider the second test stops (SIGSTOP) is let run again (SIGCONT) by the teardown.
  const rig = setUpEachTest({ hostd: false });

  it('should refuse a peer timeout that is not a whole number of ms from 100 to 60000', async () => {
    for (const peerTimeoutMs of [0, 99, 60_001, 1.5, Number.NaN]) {
      const err = await Node.open({
        config: rig.d.configPath,
        vm: 'cluster',
        runDir: rig.d.runDir,
        peerTimeoutMs,
      }).catch((e: unknown) => e);
      expect(err, String(peerTimeoutMs)).to.be.instanceOf(RuntimeError);
      expect((err as RuntimeError).code).to.equal('ERR_BAD_ARGUMENT');
      expect((err as RuntimeError).message).to.match(/peerTimeoutMs must be a whole number/);
    }
  });

  it('should keep a channel whose peer stalls longer than the default but shorter than the timeout', async () => {
    await rig.startHostd();
    const provider = await rig.startProvider();
    const node = await rig.openNode({ peerTimeoutMs: 20_000 });
    const speed = await node.consume('VehicleSpeed', { instance: 1 });
    const channel = speed.channelId;
    provider.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    provider.child.kill('SIGCONT');
    const r = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>('reset', {
      odometer_m: 7,
    });
    expect(r).to.have.property('previous_odometer_m');
    expect(speed.status).to.equal('connected');
    expect(speed.channelId, 'the same channel, never re-established').to.equal(channel);
    expect(speed.connections).to.equal(1);
  });

  // The other half: without peerTimeoutMs the same stall ends the channel. Only that it ends is
  // asserted, not how soon after the default 1 s (a loaded machine delays the check).
  it('should end a channel whose peer stalls longer than the default timeout, and re-establish it once the peer runs', async () => {
    await rig.startHostd();
    const provider = await rig.startProvider();
    const node = await rig.openNode();
    const speed = await node.consume('VehicleSpeed', { instance: 1 });
    const channel = speed.channelId;
    provider.child.kill('SIGSTOP');
    await waitFor(() => speed.status === 'peer-gone', 'the channel to end as peer-gone');
    provider.child.kill('SIGCONT');
    await waitFor(
      () => speed.status === 'connected' && speed.connections === 2,
      'a new channel once the provider runs again',
      20_000,
    );
    expect(speed.channelId, 'a new channel').to.not.equal(channel);
  });
});
