// A service's idleTimeoutMs end to end: hostd as its own OS process, the infotainment VM as
// another (provider-vm.ts, publishing every 10 ms), this test process as the cluster VM.
import { expect } from 'chai';
import { closeSync, openSync, readSync } from 'node:fs';
import { firstValueFrom, timeout } from 'rxjs';
import type { Sample } from '@sivshm/transport-ivshmem';
import {
  makeDeployment,
  readStatus,
  setUpEachTest,
  waitFor,
  type StatusLike,
} from './support/deployment.js';

const IDLE_MS = 300;

interface VehicleSpeed {
  kph: number;
}

/** Nothing of the channel is left at hostd: no channel, the whole data section free again. */
function reclaimed(s: StatusLike): boolean {
  return s.channels.length === 0 && s.region.freeBytes === s.region.dataSize;
}

/** The bytes of `window` in the region file, as the next owner of that window would see them. */
function windowBytes(regionPath: string, window: { offset: number; length: number }): Buffer {
  const bytes = Buffer.alloc(window.length);
  const fd = openSync(regionPath, 'r');
  try {
    readSync(fd, bytes, 0, window.length, window.offset);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

describe('Node idle reclaim (hostd and two VM processes)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest({
    deployment: () => makeDeployment({ idleTimeoutMs: IDLE_MS }),
    provider: true,
    node: true,
  });

  it('should close an unused channel through the revoke path, reclaim its window, and reopen it for the next call without an error', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const statuses: string[] = [];
    speed.status$.subscribe((s) => statuses.push(s));
    const first = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
      'reset',
      { odometer_m: 7 },
      // Not the 1 s default: the provider process's first answer (cold code) can take longer on
      // a loaded machine, and this test is about reclaim, not latency.
      { timeoutMs: 10_000 },
    );
    expect(first).to.have.property('previous_odometer_m');
    const [open] = (await readStatus(rig.d)).channels;
    expect(windowBytes(rig.d.regionPath, open!.window).some((b) => b !== 0)).to.equal(true);

    await waitFor(() => speed.status === 'idle', 'the service idle', 10_000);
    await waitFor(async () => reclaimed(await readStatus(rig.d)), 'the window reclaimed', 10_000);
    const after = await readStatus(rig.d);
    // Both ends answered the REVOKE with a receipt hostd verified: nothing in quarantine.
    expect(after.region.quarantinedBytes).to.equal(0);
    expect(after.vms.every((v) => v.revokeReceiptsRefused === 0)).to.equal(true);
    // The reclaimed window was zeroed: its next owner reads nothing of this channel.
    expect(windowBytes(rig.d.regionPath, open!.window).some((b) => b !== 0)).to.equal(false);

    // The next call opens a new channel and succeeds: the app sees only status$.
    const again = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
      'reset',
      { odometer_m: 8 },
      { timeoutMs: 10_000 },
    );
    expect(Number(String(again.previous_odometer_m))).to.be.greaterThan(0);
    expect(speed.status).to.equal('connected');
    expect(speed.connections).to.equal(2);
    expect(statuses).to.deep.equal(['connected', 'idle', 'connecting', 'connected']);
    expect((await readStatus(rig.d)).channels).to.have.length(1);
  });

  it('should keep the channel while an event stream is open, go idle once it is not, and reopen for a new stream', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    let received = 0;
    const sub = speed.event<VehicleSpeed>('speed').subscribe(() => received++);
    // Three timeouts with a stream open: still the first channel.
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    expect(speed.status).to.equal('connected');
    expect(speed.connections).to.equal(1);
    expect(received).to.be.greaterThan(0);
    sub.unsubscribe();

    await waitFor(() => speed.status === 'idle', 'the service idle', 10_000);
    await waitFor(async () => reclaimed(await readStatus(rig.d)), 'the window reclaimed', 10_000);
    // A stream taken while idle waits for the new channel instead of erroring.
    const e = await firstValueFrom(speed.event<VehicleSpeed>('speed').pipe(timeout(10_000)));
    expect(e.kph).to.be.within(50, 99);
    expect(speed.connections).to.equal(2);
  });

  it('should not close a channel while the app holds a Sample from it, and go idle once it is released', async () => {
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    let held: Sample<{ kph: number }> | undefined;
    // Keep the first sample; the channel delivers no other until it is released.
    const sub = speed.samples<{ kph: number }>('speed').subscribe((s) => (held ??= s));
    await waitFor(() => held !== undefined, 'a sample', 10_000);
    sub.unsubscribe();
    // No stream any more, but the sample still aliases the ring: not idle.
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    expect(speed.status).to.equal('connected');
    expect(held!.message.kph).to.be.within(50, 99);
    held!.release();
    await waitFor(() => speed.status === 'idle', 'the service idle', 10_000);
  });
});
