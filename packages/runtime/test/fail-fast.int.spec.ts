// Refusals the local services.yaml implies come at once, not after consume's timeout; and a
// provider that withdraws cleanly (StopOffer) is reported as stopped, not as a failed channel.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { makeDeployment as makeTestDeployment } from '@sivshm/testing';
import { RuntimeError } from '../src/index.js';
import { setUpEachTest, waitFor, type Deployment } from './support/deployment.js';

/** VehicleSpeed at minMode mac (cluster consumes it); MediaControl consumed by nobody. */
function failFastDeployment(): Deployment {
  const d = makeTestDeployment({
    label: 'fail-fast',
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'cluster' },
    ],
    services: ['VehicleSpeed', { name: 'MediaControl', consumers: [] }],
  });
  const text = readFileSync(d.configPath, 'utf8');
  writeFileSync(d.configPath, text.replace('minMode: plain', 'minMode: mac'));
  return d;
}

/** Milliseconds `consume` took to reject, and what it rejected with. */
async function refusal(p: () => Promise<unknown>): Promise<{ ms: number; err: RuntimeError }> {
  const t0 = performance.now();
  const err = await p().then(
    () => expect.fail('consume resolved'),
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  expect(RuntimeError.is(err), String(err)).to.equal(true);
  return { ms, err: err as RuntimeError };
}

describe('consume refusals the config implies, and StopOffer', function () {
  this.timeout(60_000);
  const rig = setUpEachTest({ deployment: failFastDeployment, node: true });

  // The bound is far below consume's default timeout (10 s) and hostd's answer time; nothing
  // but a local check can answer within it.
  const AT_ONCE_MS = 50;

  it('rejects a service this VM may not consume at once, naming who may', async () => {
    const { ms, err } = await refusal(() =>
      rig.node.consume('MediaControl', { instance: 1, timeoutMs: 3000 }),
    );
    expect(err.code).to.equal('ERR_CONFIG');
    expect(err.message).to.match(
      /does not let 'cluster' consume 'MediaControl'; its consumers: \(none\)/,
    );
    expect(ms).to.be.below(AT_ONCE_MS);
  });

  it("rejects a mode below the service's minMode at once, naming the modes allowed", async () => {
    const { ms, err } = await refusal(() =>
      rig.node.consume('VehicleSpeed', { instance: 1, mode: 'plain', timeoutMs: 3000 }),
    );
    expect(err.code).to.equal('ERR_BAD_ARGUMENT');
    expect(err.message).to.match(
      /mode 'plain' is below the minMode 'mac' of 'VehicleSpeed'.*ask for mac or aead/,
    );
    expect(ms).to.be.below(AT_ONCE_MS);
  });

  it('rejects an unknown service at once, naming the services there are', async () => {
    const { ms, err } = await refusal(() =>
      rig.node.consume('AudioVolume', { instance: 1, timeoutMs: 3000 }),
    );
    expect(err.code).to.equal('ERR_CONFIG');
    expect(err.message).to.match(
      /no service named 'AudioVolume'; services there: VehicleSpeed, MediaControl/,
    );
    expect(ms).to.be.below(AT_ONCE_MS);
  });

  it('still connects at or above minMode (the check refuses nothing the broker allows)', async () => {
    await rig.startProvider();
    for (const mode of [undefined, 'mac', 'aead'] as const) {
      const svc = await rig.node.consume('VehicleSpeed', { instance: 1, ...(mode && { mode }) });
      expect(svc.mode).to.equal(mode ?? 'mac');
      await svc.close();
    }
  });

  it('reports a clean StopOffer as stopped, not as a failed channel', async () => {
    const p = await rig.startProvider();
    const speed = await rig.node.consume('VehicleSpeed', { instance: 1 });
    const ended = new Promise<unknown>((resolve) =>
      speed
        .event('speed', { acrossChannels: false })
        .subscribe({ error: resolve, complete: () => resolve('completed') }),
    );
    p.child.send({ cmd: 'exit' }); // node.close(): StopOffer, then the channel closed
    const err = await ended;
    expect((err as RuntimeError).code).to.equal('ERR_PEER_GONE');
    expect((err as Error).message, (err as Error).message).to.match(/ended \(stopped\)/);
    expect((err as Error).message).to.not.match(/failed/);
    await waitFor(() => speed.status === 'peer-gone', 'status peer-gone');
  });
});
