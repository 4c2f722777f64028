// Issue 13 cases 8 and 9 under live traffic: the region file truncated again and again while a
// provider app publishes and answers and a consumer app takes events and calls (real VM apps,
// the runtime's Node, each its own OS process), and two hostds racing for one region. Every
// process that maps the region touches it at any moment here, so accesses past the new end
// do happen between the truncation and hostd's next look: the SIGBUS guard (transport's
// sigbus_guard.cc) keeps them alive, hostd restores the region and drops the VMs, and the apps
// come back on their own.
import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  makeDeployment,
  readStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
} from './support/test-deployment.js';
import { sleep } from './support/hostile-load.js';
import {
  startConsumerApp,
  startProviderApp,
  type ConsumerFigures,
  type VmApp,
} from './support/vm-apps.js';

/** Truncations in the loop: enough to hit accesses in flight, bounded in time (≈ 2 s each). */
const ROUNDS = 6;

describe('Hostd with its region truncated under live traffic (issue 13 cases 8, 9)', function () {
  this.timeout(120_000);
  let d: Deployment;
  const hostds: HostdProcess[] = [];
  const apps: VmApp[] = [];
  const dirs: string[] = [];

  const running = (h: HostdProcess): boolean =>
    h.child.exitCode === null && h.child.signalCode === null;
  const appAlive = (a: VmApp): boolean =>
    a.app.child.exitCode === null && a.app.child.signalCode === null;

  beforeEach(() => {
    d = makeDeployment();
  });

  afterEach(async () => {
    const codes: (number | string)[] = [];
    try {
      for (const a of apps.splice(0)) await a.stop();
      for (const h of hostds.splice(0)) if (running(h)) codes.push(await h.stop());
    } finally {
      for (const h of hostds) h.kill();
      d.cleanup();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    }
    expect(
      codes.every((c) => c === 0),
      `hostd exit codes after SIGTERM: ${codes.join(', ')}`,
    ).to.equal(true);
  });

  it('should keep hostd and both apps alive through repeated truncations, restore the region, drop the VMs and serve them again each time', async () => {
    const hostd = await startHostd(d);
    hostds.push(hostd);
    const provider = await startProviderApp(d);
    apps.push(provider);
    const consumer = await startConsumerApp(d, 'cluster', ['speed', 'media']);
    apps.push(consumer);
    for (const a of [provider, consumer]) a.app.child.on('error', () => undefined); // EPIPE: below
    const report = (): Promise<ConsumerFigures> => {
      for (const a of [provider, consumer]) {
        const { exitCode, signalCode } = a.app.child;
        if (!appAlive(a)) throw new Error(`a VM app died (${signalCode ?? exitCode})`);
      }
      return consumer.ask<ConsumerFigures>('report', 'consumer');
    };
    await waitFor(async () => (await report()).events >= 20, 'the first events', 15_000);
    const size = statSync(d.regionPath).size;
    const shrunk = (): Record<string, unknown>[] =>
      hostd.logs.filter((l) => l['event'] === 'region-shrunk');

    for (let round = 1; round <= ROUNDS; round++) {
      const before = await report();
      // Counted from here: a restore that fails once is logged again, so one truncation may
      // give more than one line.
      const seen = shrunk().length;
      // Status reads the active channels' rings: ask for it as the file shrinks.
      const status = readStatus(d).catch(() => undefined);
      truncateSync(d.regionPath, 4096);
      await status;
      // Hang bounds, not speed claims: hostd looks every 100 ms, but a loaded machine may
      // deschedule it for seconds.
      await waitFor(() => shrunk().length > seen, `hostd to see truncation ${round}`, 15_000);
      await waitFor(
        () => statSync(d.regionPath).size === size,
        `the region restored (${round})`,
        15_000,
      );
      // Back on the restored region: new events and answered calls after the drop.
      await waitFor(
        async () => {
          const now = await report();
          return now.events > before.events + 10 && now.answered > before.answered;
        },
        `traffic again after truncation ${round}`,
        15_000,
      );
      expect(running(hostd), `hostd alive after round ${round}`).to.equal(true);
      expect(appAlive(provider), `provider app alive after round ${round}`).to.equal(true);
      expect(appAlive(consumer), `consumer app alive after round ${round}`).to.equal(true);
    }

    const drops = hostd.logs.filter((l) => l['event'] === 'vm-disconnected').length;
    const absorbed = shrunk().filter((l) => l['faultAbsorbed'] === true).length;
    const f = await report();
    console.log(
      `      [measured] ${ROUNDS} truncations: hostd absorbed a fault in ${absorbed}; ${drops} VM links dropped; consumer: ${f.events} events, ${f.answered} answers, failures ${JSON.stringify(f.failures)}`,
    );
    expect(drops, 'each truncation dropped the VMs').to.be.at.least(ROUNDS);
    expect((await readStatus(d)).services.length, 'offers back').to.equal(2);
  });

  it('should let exactly one of two hostds started together on the same region run, the other naming it', async () => {
    const other = mkdtempSync(path.join(tmpdir(), 'sivshm-hostd-race-'));
    dirs.push(other);
    // Same config and CA directory, another run dir: only the region lock tells them apart.
    const second = { ...d, runDir: path.join(other, 'run'), cleanup: () => undefined };
    const results = await Promise.allSettled([
      startHostd(d, [], { timeoutMs: 20_000 }),
      startHostd(second, [], { timeoutMs: 20_000 }),
    ]);
    for (const r of results) if (r.status === 'fulfilled') hostds.push(r.value);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won, lost.map((r) => String(r.reason)).join('\n')).to.have.length(1);
    const winner = (won[0] as PromiseFulfilledResult<HostdProcess>).value;
    expect(String((lost[0]!.reason as Error).message)).to.match(
      new RegExp(`in use by another hostd \\(pid ${winner.child.pid}, run dir `),
    );
    // The winner runs on; the region it made is whole (the loser touched nothing of it).
    await sleep(500);
    expect(running(winner)).to.equal(true);
    expect(statSync(d.regionPath).size).to.be.above(0);
  });
});
