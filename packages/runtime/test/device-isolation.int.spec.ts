// isolation: device end to end in emulated mode (issue 18, docs/protocol.md §10): hostd as its
// own process, the provider VM as another (device-pair-provider-vm.ts), a third VM as a third
// (third-vm.ts), this test process as the cluster VM. VehicleSpeed is a device service between
// infotainment and cluster; MediaControl, between infotainment and third, stays in the region.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { firstValueFrom, take, timeout, toArray } from 'rxjs';
import {
  forkChild,
  makeDeployment as makeTestDeployment,
  siblingEntry,
  type ForkedChild,
} from '@sivshm/testing';
import { setUpEachTest, waitFor, type Deployment } from './support/deployment.js';

const IDLE_MS = 300;
/** What cluster sets the odometer to: its varint is the pair's marker in memory. */
const MARKER = 0x7ea51de5c0de;

interface VehicleSpeed {
  kph: number;
  odometer_m: unknown;
}

/** The protobuf varint of `n` (how the marker appears in a record). */
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

function deployment(): Deployment {
  return makeTestDeployment({
    label: 'runtime-device',
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'cluster' },
      { id: 3, name: 'third' },
    ],
    services: [
      { name: 'VehicleSpeed', isolation: 'device', idleTimeoutMs: IDLE_MS },
      { name: 'MediaControl', consumers: ['third'] },
    ],
  });
}

type Report = { event: string; files?: string[]; answer?: unknown; message?: string };

function fork(d: Deployment, name: string, what: string): Promise<ForkedChild<Report>> {
  return forkChild<Report>({
    entry: siblingEntry(import.meta.url, `support/${name}`),
    args: [d.configPath, d.runDir],
    what,
    ready: (r) => r.some((m) => m.event === 'ready'),
    failed: (r) => r.some((m) => m.event === 'error'),
    pipeStderr: true,
  });
}

describe('Node device channels (emulated mode, hostd and three VM processes)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest({ deployment, node: true });
  const children: ForkedChild<Report>[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) await c.stop();
  });

  it("should carry the pair's events and calls in memory only the pair maps, drop it on revoke, and keep the region service beside it working", async () => {
    const provider = await fork(rig.d, 'device-pair-provider-vm', 'the provider VM');
    children.push(provider);
    const third = await fork(rig.d, 'third-vm', 'the third VM');
    children.push(third);
    expect(third.messages[0]!.answer).to.deep.include({ accepted: true });

    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    await speed.call('reset', { odometer_m: MARKER }, { timeoutMs: 10_000 });
    const events = await firstValueFrom(
      speed.event<VehicleSpeed>('speed').pipe(take(5), toArray(), timeout(10_000)),
    );
    expect(events.map((e) => Number(String(e.odometer_m)))).to.include(MARKER);

    const devicesDir = path.join(rig.d.runDir, 'devices');
    const files = readdirSync(devicesDir).map((f) => path.join(devicesDir, f));
    expect(files, 'one device channel').to.have.length(1);
    const device = files[0]!;
    const marker = varint(MARKER);
    expect(readFileSync(device).includes(marker), 'the pair writes its memory').to.equal(true);
    expect(readFileSync(rig.d.regionPath).includes(marker), 'never the region').to.equal(false);

    // The third VM's process never mapped the pair's memory (its own region channel it did).
    third.child.send({ cmd: 'maps' });
    await waitFor(() => third.messages.some((m) => m.event === 'maps'), "the third VM's maps");
    const maps = third.messages.find((m) => m.event === 'maps')!.files!;
    expect(maps.some((f) => f.startsWith(rig.d.regionPath))).to.equal(true);
    expect(maps.filter((f) => f.includes(devicesDir))).to.deep.equal([]);

    // Idle: the consumer closes the channel through the revoke path; hostd drops the memory.
    await waitFor(() => speed.status === 'idle', 'VehicleSpeed idle', 10_000);
    await waitFor(() => !existsSync(device), 'the device memory dropped', 10_000);
    third.child.send({ cmd: 'call' });
    await waitFor(
      () => third.messages.some((m) => m.event === 'answer' || m.event === 'call-failed'),
      'the region service answered',
    );
    expect(third.messages.find((m) => m.event === 'answer')?.answer).to.deep.include({
      accepted: true,
    });

    // The next call opens a new device channel with new memory.
    const again = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
      'reset',
      { odometer_m: 1 },
      { timeoutMs: 10_000 },
    );
    expect(Number(String(again.previous_odometer_m))).to.be.greaterThan(0);
    const next = readdirSync(devicesDir).map((f) => path.join(devicesDir, f));
    expect(next).to.have.length(1);
    expect(next[0]).not.to.equal(device);
  });
});
