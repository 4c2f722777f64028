// Doorbells reach only the channel's peer: hostd as its own OS process, the infotainment VM as
// another (forked provider-vm.ts), the cluster VM and a third VM in no channel in this process.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import { Node } from '../src/index.js';
import {
  startHostd,
  startProviderVm,
  waitFor,
  type Child,
  type Deployment,
} from './support/deployment.js';

const REPO_ROOT = path.resolve(packageRoot(import.meta.url), '..', '..');

/** The runtime tests' deployment plus `radio`, a VM that takes part in no channel. */
function threeVmDeployment(): Deployment {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-doorbells-'));
  const regionPath = `/dev/shm/sivshm-doorbells-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const key = (): string => randomBytes(32).toString('hex');
  const proto = path.join(REPO_ROOT, 'examples', 'proto', 'vehicle.proto');
  const configPath = path.join(dir, 'services.yaml');
  writeFileSync(
    configPath,
    `version: 1
region: { size: 4MiB, path: ${regionPath}, channelCapacity: 64 }
vms:
  - { id: 1, name: infotainment, grantKey: { hex: ${key()} } }
  - { id: 2, name: cluster, grantKey: { hex: ${key()} } }
  - { id: 3, name: radio, grantKey: { hex: ${key()} } }
protos: [${proto}]
services:
  - name: VehicleSpeed
    id: 0x1234
    instances: [1]
    major: 1
    minor: 0
    provider: infotainment
    consumers: [cluster]
    minMode: plain
    eventgroups:
      - id: 1
        name: speed
        events:
          - { id: 0x8001, name: speed, type: sivshm.demo.VehicleSpeed }
    methods:
      - { id: 0x0001, name: reset, request: sivshm.demo.ResetRequest, response: sivshm.demo.ResetResponse }
`,
  );
  return {
    dir,
    configPath,
    runDir: path.join(dir, 'run'),
    stateDir: path.join(dir, 'state'),
    regionPath,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(regionPath, { force: true });
    },
  };
}

describe('Doorbell routing (hostd and three VMs)', function () {
  this.timeout(60_000);
  let d: Deployment;
  let hostd: Child | undefined;
  let provider: Child | undefined;
  const nodes: Node[] = [];

  beforeEach(async () => {
    d = threeVmDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
    await provider?.stop();
    provider = undefined;
    await hostd?.stop();
    hostd = undefined;
    d.cleanup();
  });

  describe('Node.doorbellsReceived', () => {
    it('should stay 0 on a VM in no channel while a channel between two others streams', async () => {
      const radio = await Node.open({ config: d.configPath, vm: 'radio', runDir: d.runDir });
      nodes.push(radio);
      provider = await startProviderVm(d);
      const cluster = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir });
      nodes.push(cluster);
      const speed = await cluster.consume('VehicleSpeed', { instance: 1 });
      // 50 events at the provider's 10 ms period: the consumer parks between them, so the
      // provider rings it for (nearly) every one.
      const events = await firstValueFrom(
        speed.event('speed').pipe(take(50), toArray(), timeout(10_000)),
      );
      expect(events).to.have.length(50);
      await waitFor(() => cluster.doorbellsReceived >= 10, 'doorbells at the consumer', 5000);
      expect(radio.doorbellsReceived, 'doorbells at the VM outside the channel').to.equal(0);
    });
  });
});
