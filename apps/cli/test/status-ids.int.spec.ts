// One channel seen four ways — `sivshm status`, `status --json`, `inspect --json` of the region,
// and hostd's log — names it with the same 0x id; status shows service names next to their ids,
// and the status document's timestamps say what they hold (ISO 8601).
import { expect } from 'chai';
import { Node } from '@sivshm/runtime';
import {
  makeDeployment,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';
import { sivshm } from './support/bounded-run.js';

describe('ids and names across status, inspect and hostd logs', function () {
  this.timeout(90_000);
  let d: Deployment;
  let hostd: HostdProcess;
  const nodes: Node[] = [];

  before(async () => {
    d = makeDeployment({
      label: 'cli-ids',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'cluster' },
      ],
      services: ['VehicleSpeed'],
    });
    hostd = await startHostd(d, [], { logLevel: 'info' });
    const provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
    });
    nodes.push(provider);
    await provider.offer('VehicleSpeed', { instance: 1 });
    const consumer = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
    nodes.push(consumer);
    await consumer.consume('VehicleSpeed', { instance: 1 });
  });

  after(async () => {
    for (const n of nodes) await n.close().catch(() => undefined);
    await hostd?.stop();
    d?.cleanup();
  });

  it('names the channel with one 0x id everywhere, and the service by name and 0x id', async () => {
    const json = await sivshm(['status', '--run-dir', d.runDir, '--json']);
    expect(json.status, json.stderr).to.equal(0);
    const doc = JSON.parse(json.stdout) as {
      channels: { channelId: string; stateChangedAt: string; sinceMs: number; state: string }[];
      vms: { name: string; connectedAt?: string }[];
    };
    const ch = doc.channels.find((c) => c.state === 'ACTIVE');
    expect(ch, json.stdout).to.not.equal(undefined);
    const id = ch!.channelId;
    expect(id).to.match(/^0x[0-9a-f]+$/);

    const text = await sivshm(['status', '--run-dir', d.runDir]);
    expect(text.status, text.stderr).to.equal(0);
    // services offered: name and id, instance in the same 0x style
    expect(text.stdout).to.match(/^\s+VehicleSpeed 0x1234\s+0x0001\s+1\.0\s+infotainment/m);
    // channels: the same id, service name and id / instance
    expect(text.stdout).to.match(
      new RegExp(`^\\s+${id}\\s+ACTIVE\\s+\\w+\\s+VehicleSpeed 0x1234/0x0001\\s+cluster`, 'm'),
    );

    const inspect = await sivshm(['inspect', d.regionPath, '--json']);
    expect(inspect.status, inspect.stderr).to.equal(0);
    const report = JSON.parse(inspect.stdout) as { channels: { entry: { channelId: string } }[] };
    expect(report.channels.map((c) => c.entry.channelId)).to.include(id);

    await waitFor(
      () => hostd.logs.some((l) => l['event'] === 'channel-active' && l['channel'] === id),
      "hostd's channel-active line",
    );
    const active = hostd.logs.find((l) => l['event'] === 'channel-active' && l['channel'] === id)!;
    expect(active).to.include({ service: '0x1234', instance: '0x0001' });
  });

  it('writes when a channel entered its state and a VM connected as ISO 8601 times', async () => {
    const json = await sivshm(['status', '--run-dir', d.runDir, '--json']);
    const doc = JSON.parse(json.stdout) as {
      startedAt: string;
      channels: { stateChangedAt: string; sinceMs: number }[];
      vms: { name: string; connectedAt?: string; connectedSinceMs?: number }[];
    };
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    for (const c of doc.channels) {
      expect(c.stateChangedAt).to.match(iso);
      expect(Date.parse(c.stateChangedAt)).to.be.at.least(Date.parse(doc.startedAt));
      // The deprecated alias holds the same instant, for schema-1 readers.
      expect(c.sinceMs).to.equal(Date.parse(c.stateChangedAt));
    }
    const cluster = doc.vms.find((v) => v.name === 'cluster')!;
    expect(cluster.connectedAt).to.match(iso);
    expect(cluster.connectedSinceMs).to.equal(Date.parse(cluster.connectedAt!));
  });
});
