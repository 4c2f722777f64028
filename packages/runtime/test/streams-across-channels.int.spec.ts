// Event and sample streams outlive their channels: one subscription keeps receiving across a
// provider restart and a hostd restart (the runtime re-attaches underneath), the gap shows on
// status$, and the stream completes only on close. hostd and the provider VM are their own
// processes; the test process is the cluster VM.
import { expect } from 'chai';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { setUpEachTest, waitFor } from './support/deployment.js';

type VehicleSpeed = { kph: number; odometer_m: unknown; timestamp_ms: number };

/** Resolves once `count()` grew by `more` from now (polled; bounded by waitFor). */
async function grows(count: () => number, more: number, what: string): Promise<void> {
  const from = count();
  await waitFor(() => count() >= from + more, what, 20_000);
}

describe('streams that outlive channels (provider and hostd restarts)', function () {
  this.timeout(90_000);
  const rig = setUpEachTest({ provider: true });

  it('keeps one event subscriber receiving across a provider restart and a hostd restart', async () => {
    const node = await rig.openNode({ reconnectMaxDelayMs: 200 });
    const speed = await node.consume('VehicleSpeed', { instance: 1 });
    const statuses: string[] = [];
    speed.status$.subscribe((s) => statuses.push(s));
    let received = 0;
    let ended: unknown;
    const sub = speed.event<VehicleSpeed>('speed').subscribe({
      next: (e) => {
        expect(e.kph).to.be.within(50, 99);
        received++;
      },
      error: (e: unknown) => (ended = e),
      complete: () => (ended = 'completed'),
    });
    await grows(() => received, 3, 'events on the first channel');

    // The provider dies and comes back: a new channel, the same subscriber.
    rig.provider.child.kill('SIGKILL');
    await rig.provider.stop();
    await waitFor(() => speed.status === 'peer-gone', 'the gap on status$');
    await rig.startProvider();
    await grows(() => received, 3, 'events on the channel to the restarted provider');
    expect(speed.connections).to.equal(2);

    // hostd dies and comes back: both nodes re-attach, a third channel, the same subscriber.
    rig.hostd.child.kill('SIGKILL');
    await rig.hostd.stop();
    await waitFor(() => speed.status === 'peer-gone', 'the gap on status$');
    await rig.startHostd();
    await grows(() => received, 3, 'events after the hostd restart');
    expect(speed.connections).to.equal(3);

    expect(ended, String(ended)).to.equal(undefined);
    expect(sub.closed).to.equal(false);
    // Each gap: status$ left connected and came back.
    expect(statuses.filter((s) => s === 'connected').length).to.equal(3);
    expect(statuses.filter((s) => s === 'peer-gone').length).to.equal(2);
    await node.close();
    expect(ended).to.equal('completed'); // close completes it, never an error
  });

  it('keeps a zero-copy samples subscriber across a provider restart', async () => {
    const node = await rig.openNode();
    const speed = await node.consume('VehicleSpeed', { instance: 1 });
    let received = 0;
    let ended: unknown;
    speed.samples<VehicleSpeed>('speed').subscribe({
      next: (s) => {
        received++;
        s.release();
      },
      error: (e: unknown) => (ended = e),
    });
    await grows(() => received, 3, 'samples on the first channel');
    rig.provider.child.kill('SIGKILL');
    await rig.provider.stop();
    await waitFor(() => speed.status === 'peer-gone', 'the gap on status$');
    await rig.startProvider();
    await grows(() => received, 3, 'samples on the next channel');
    expect(ended, String(ended)).to.equal(undefined);
    expect(speed.connections).to.equal(2);
  });

  it('still errors with ERR_PEER_GONE when asked to end with the channel (acrossChannels: false)', async () => {
    const node = await rig.openNode();
    const speed = await node.consume('VehicleSpeed', { instance: 1 });
    const tied = firstValueFrom(
      speed.event('speed', { acrossChannels: false }).pipe(filter(() => false)),
    ).catch((e: unknown) => e);
    const kept = firstValueFrom(
      speed.event<VehicleSpeed>('speed').pipe(
        filter(() => speed.connections === 2),
        timeout(30_000),
      ),
    );
    rig.provider.child.kill('SIGKILL');
    await rig.provider.stop();
    expect((await tied) as { code?: string }).to.have.property('code', 'ERR_PEER_GONE');
    await rig.startProvider();
    expect((await kept).kph).to.be.within(50, 99);
  });
});
