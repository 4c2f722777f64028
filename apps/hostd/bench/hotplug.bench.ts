// `npm run bench -- hotplug`: what a device channel's hot-plug adds to its handshake (issue 18).
// hostd --qemu with two real QEMU processes (TCG, `pc`, no guest OS) behind its QMP sockets; the
// VMs' control links are test links in this process. In the same run it times handshakes of a
// region service (the baseline) and of a device service (M1 → M4 verified, which includes the
// object-add/device_add into both QEMUs). Without a guest OS nothing answers ACPI, so after each
// device channel the bench resets both QEMUs to complete the pending unplug (a stand-in for the
// guests releasing the device; hostd itself never resets a guest). The guests' own probe of the
// device is not in these figures: that belongs to the guest tier.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, resolveGrantKey, type Rights } from '@sivshm/core';
import { makeDeployment } from '@sivshm/testing';
import { QmpClient } from '../src/qmp/qmp-client.js';
import { startQmpQemu, type QmpQemu } from '../test/support/qmp-qemu.js';
import {
  OFFER_ALL,
  readStatus,
  REQUEST_ALL,
  SERVICE,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from '../test/support/test-deployment.js';
import { TestVm } from '../test/support/test-vm.js';

export interface HotplugResult {
  runs: number;
  regionMs: { p50: number; max: number };
  deviceMs: { p50: number; max: number };
  /** hostd's own figure: both plugs (object-add + device_add in two QEMUs, in parallel). */
  plugMs: { p50: number; max: number };
  /** device p50 / region p50. */
  ratio: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const stats = (xs: number[]) => ({ p50: median(xs), max: Math.max(...xs) });

interface Rig {
  dir: string;
  d: Deployment;
  hostd: HostdProcess;
  qemus: QmpQemu[];
  monitors: QmpClient[];
  links: TestVm[];
}

async function startRig(): Promise<Rig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-hpb-'));
  const qemus = [await startQmpQemu(dir, 'infotainment'), await startQmpQemu(dir, 'cluster')];
  const monitors = await Promise.all(qemus.map((q) => QmpClient.connect(q.testSocketPath)));
  const d = makeDeployment({
    label: 'hotplug-bench',
    vms: [
      { id: 1, name: 'infotainment', qmp: qemus[0]!.socketPath },
      {
        id: 2,
        name: 'cluster',
        qmp: qemus[1]!.socketPath,
        limits: { handshakesPerSecond: 1000, burst: 100, windowBytes: '3MiB' },
      },
    ],
    services: [
      { name: 'VehicleSpeed', isolation: 'device' },
      { name: 'MediaControl', consumers: ['cluster'] },
    ],
  });
  const hostd = await startHostd(d, ['--qemu'], { logLevel: 'info' });
  const config = await loadConfig(d.configPath);
  const link = async (name: string, rights: Rights): Promise<TestVm> => {
    const key = await resolveGrantKey(config.vms.find((v) => v.name === name)!);
    const vm = await TestVm.connect(d.socket(name), key);
    await vm.enrol(rights);
    return vm;
  };
  const p = await link('infotainment', OFFER_ALL);
  p.provide();
  p.offer(SERVICE.speed, 1, 1, 3600); // one offer lasts the whole run
  p.offer(SERVICE.media, 1, 1, 3600);
  await waitFor(async () => (await readStatus(d)).services.length === 2, 'both offers');
  const c = await link('cluster', REQUEST_ALL);
  return { dir, d, hostd, qemus, monitors, links: [p, c] };
}

async function stopRig(r: Rig): Promise<void> {
  for (const l of r.links) l.close();
  await r.hostd.stop(10_000);
  r.hostd.kill();
  for (const m of r.monitors) m.close();
  for (const q of r.qemus) await q.stop();
  r.d.cleanup();
  rmSync(r.dir, { recursive: true, force: true });
}

/** One handshake of `service` (M1 sent → M4 verified), then its close and teardown. */
async function handshakeMs(r: Rig, service: number): Promise<number> {
  const c = r.links[1]!;
  const o = await c.request(service);
  if (o.kind !== 'granted') throw new Error(`handshake refused: ${o.reason}: ${o.detail}`);
  c.send({ kind: 'close', channelId: o.grant.channelId });
  await waitFor(async () => (await readStatus(r.d)).channels.length === 0, 'the channel freed');
  return o.ms;
}

export async function runHotplug(o: {
  runs: number;
  log: (s: string) => void;
}): Promise<HotplugResult> {
  const r = await startRig();
  try {
    const region: number[] = [];
    const device: number[] = [];
    // One unmeasured round first: code loading and the QEMUs' first device_add.
    for (let i = -1; i < o.runs; i++) {
      const regionMs = await handshakeMs(r, SERVICE.media);
      const deviceMs = await handshakeMs(r, SERVICE.speed);
      // No guest answers the unplug: reset both QEMUs so the next channel finds a clean bus.
      const freed = r.hostd.logs.filter((l) => l['event'] === 'channel-device-freed').length;
      await waitFor(
        () =>
          r.hostd.logs.filter((l) => l['event'] === 'device-unplug-stuck').length >= 2 * (i + 2),
        'the unplug given up on',
        20_000,
      );
      for (const m of r.monitors) await m.execute('system_reset');
      await waitFor(
        () => r.hostd.logs.filter((l) => l['event'] === 'channel-device-freed').length > freed,
        'the device memory freed',
        20_000,
      );
      if (i < 0) continue;
      region.push(regionMs);
      device.push(deviceMs);
      o.log(
        `  run ${i + 1}/${o.runs}: region ${regionMs.toFixed(1)} ms, device ${deviceMs.toFixed(1)} ms`,
      );
    }
    const plug = r.hostd.logs
      .filter((l) => l['event'] === 'channel-device-plugged')
      .map((l) => Number(l['ms']))
      .slice(1); // not the warm-up's
    return {
      runs: o.runs,
      regionMs: stats(region),
      deviceMs: stats(device),
      plugMs: stats(plug),
      ratio: median(device) / median(region),
    };
  } finally {
    await stopRig(r);
  }
}

export function formatHotplug(x: HotplugResult): string {
  return [
    `device-channel handshake incl. hot-plug into 2 QEMUs (TCG, no guest OS), ${x.runs} runs`,
    `  region service  p50 ${x.regionMs.p50.toFixed(1)} ms  max ${x.regionMs.max.toFixed(1)} ms   (baseline)`,
    `  device service  p50 ${x.deviceMs.p50.toFixed(1)} ms  max ${x.deviceMs.max.toFixed(1)} ms   ×${x.ratio.toFixed(2)}`,
    `  hostd's plugs   p50 ${x.plugMs.p50} ms  max ${x.plugMs.max} ms (object-add + device_add, both QEMUs in parallel)`,
  ].join('\n');
}

/** scripts/bench.mjs entry: `npm run bench -- hotplug` (`--quick`: 3 runs, else 10). */
export function run(opts: { quick?: boolean; log?: (s: string) => void }): Promise<HotplugResult> {
  return runHotplug({ runs: opts.quick === true ? 3 : 10, log: opts.log ?? (() => undefined) });
}

export function format(r: HotplugResult): string {
  return formatHotplug(r);
}
