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

/**
 * What `consume` rejected with, and how long it took: in wall time, and whether it settled before
 * the event loop's next check phase — i.e. before any I/O could have been read, so no answer from
 * hostd or a peer can have decided it.
 */
async function refusal(
  p: () => Promise<unknown>,
): Promise<{ ms: number; err: RuntimeError; beforeAnyIo: boolean }> {
  let loopTurned = false;
  setImmediate(() => (loopTurned = true));
  const t0 = performance.now();
  const err = await p().then(
    () => expect.fail('consume resolved'),
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  expect(RuntimeError.is(err), String(err)).to.equal(true);
  return { ms, err: err as RuntimeError, beforeAnyIo: !loopTurned };
}

describe('consume refusals the config implies, and StopOffer', function () {
  this.timeout(60_000);
  const rig = setUpEachTest({ deployment: failFastDeployment, node: true });

  // "At once": the refusal settles before the event loop reads any I/O, so only a local check
  // can have decided it (a wall-clock bound would measure the machine's load, not the code).
  function atOnce(r: { ms: number; beforeAnyIo: boolean }): void {
    const why = `settled after the event loop turned (${r.ms.toFixed(1)} ms)`;
    expect(r.beforeAnyIo, why).to.equal(true);
  }

  it('rejects a service this VM may not consume at once, naming who may', async () => {
    const r = await refusal(() =>
      rig.node.consume('MediaControl', { instance: 1, timeoutMs: 3000 }),
    );
    expect(r.err.code).to.equal('ERR_CONFIG');
    expect(r.err.message).to.match(
      /does not let 'cluster' consume 'MediaControl'; its consumers: \(none\)/,
    );
    atOnce(r);
  });

  it("rejects a mode below the service's minMode at once, naming the modes allowed", async () => {
    const r = await refusal(() =>
      rig.node.consume('VehicleSpeed', { instance: 1, mode: 'plain', timeoutMs: 3000 }),
    );
    expect(r.err.code).to.equal('ERR_BAD_ARGUMENT');
    expect(r.err.message).to.match(
      /mode 'plain' is below the minMode 'mac' of 'VehicleSpeed'.*ask for mac or aead/,
    );
    atOnce(r);
  });

  it('rejects an unknown service at once, naming the services there are', async () => {
    const r = await refusal(() =>
      rig.node.consume('AudioVolume', { instance: 1, timeoutMs: 3000 }),
    );
    expect(r.err.code).to.equal('ERR_CONFIG');
    expect(r.err.message).to.match(
      /no service named 'AudioVolume'; services there: VehicleSpeed, MediaControl/,
    );
    atOnce(r);
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
