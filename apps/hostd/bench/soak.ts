// `npm run soak [-- --duration S] [--restart-every S]`: the hostile-load cases of issue 13 at
// once against one hostd (its own process, log level info), with legitimate VMs beside them,
// and hostd killed with SIGKILL and started again every few seconds. Prints a progress line
// while it runs and the figures at the end; exits 1 when a bound is broken. Not part of
// `npm test` or CI: minutes long, and its figures are for reading (docs/security.md §11).
//
// Legitimate: the infotainment provider app and the cluster consumer app (runtime Nodes, each
// its own process: events and calls), and a victim VM handshaking every 250 ms (timed).
// Hostile: a consumer app holding its channel and flooding calls (case 1), the provider sending
// an undecodable record every 3 s (case 2), and soak-attackers.ts (cases 3-7); a second hostd
// on the same region is tried once per restart cycle (case 8).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  forkChild,
  makeDeployment,
  siblingEntry,
  startHostd,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';
import { fdCount, rssMiB, sleep } from '../test/support/hostile-load.js';
import { GENEROUS_LIMITS, ROGUE_LIMITS } from '../test/support/test-deployment.js';
import {
  startConsumerApp,
  startHogApp,
  startProviderApp,
  type ConsumerFigures,
  type HogFigures,
  type ProviderFigures,
  type VmApp,
} from '../test/support/vm-apps.js';
import { checkBounds, printFigures, type SoakFigures } from './soak-report.js';
import { Victim } from './soak-victim.js';

const USAGE = `usage: npm run soak [-- --duration SECONDS] [--restart-every SECONDS]

Runs issue 13's hostile-load cases together against one hostd, with legitimate VMs beside
them, killing hostd (SIGKILL) and starting it again every --restart-every seconds.
  --duration S        how long to run, 10..300 (default 180)
  --restart-every S   seconds between hostd kills, 0 for none (default 30)
Prints the figures at the end; exits 1 when a bound is broken, 2 on a usage error.`;

function options(): { durationS: number; restartEveryS: number } {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        duration: { type: 'string', default: '180' },
        'restart-every': { type: 'string', default: '30' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    console.error(`soak: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const durationS = Number(values.duration);
  const restartEveryS = Number(values['restart-every']);
  if (!Number.isInteger(durationS) || durationS < 10 || durationS > 300) {
    console.error(
      `soak: --duration must be a whole number of seconds in 10..300, got ${values.duration}`,
    );
    process.exit(2);
  }
  if (
    !Number.isInteger(restartEveryS) ||
    restartEveryS < 0 ||
    (restartEveryS > 0 && restartEveryS < 5)
  ) {
    console.error(
      `soak: --restart-every must be 0 or a whole number of seconds ≥ 5, got ${values['restart-every']}`,
    );
    process.exit(2);
  }
  return { durationS, restartEveryS };
}

function soakDeployment(): Deployment {
  const names = [
    'infotainment',
    'cluster',
    'victim',
    'hog',
    'rogue-sd',
    'rogue-junk',
    'rogue-log',
    'squatted',
  ];
  return makeDeployment({
    label: 'soak',
    vms: names.map((name, i) => ({
      id: i + 1,
      name,
      ...(name === 'infotainment'
        ? {}
        : { limits: name === 'cluster' || name === 'victim' ? GENEROUS_LIMITS : ROGUE_LIMITS }),
    })),
    services: [
      { name: 'VehicleSpeed', consumers: ['cluster', 'victim'] },
      { name: 'MediaControl', consumers: ['cluster', 'hog', 'rogue-sd'] },
    ],
  });
}

/** The hostd of the moment, restarted by SIGKILL; samples its RSS and fds, sums its log. */
class HostdUnderSoak {
  rssMin = Infinity;
  rssMax = 0;
  fdsMax = 0;
  restarts = 0;
  #logBytesBefore = 0;
  #hostd: HostdProcess | undefined;

  constructor(private readonly d: Deployment) {}

  async start(): Promise<void> {
    this.#hostd = await startHostd(this.d, [], { logLevel: 'info', timeoutMs: 30_000 });
  }

  sample(): void {
    const pid = this.#hostd?.child.pid;
    if (pid === undefined || this.#hostd!.child.exitCode !== null) return;
    try {
      const rss = rssMiB(pid);
      this.rssMin = Math.min(this.rssMin, rss);
      this.rssMax = Math.max(this.rssMax, rss);
      this.fdsMax = Math.max(this.fdsMax, fdCount(pid));
    } catch {
      // It exited between the check and the read.
    }
  }

  get logBytes(): number {
    return this.#logBytesBefore + (this.#hostd?.text().length ?? 0);
  }

  /** SIGKILL, then a new hostd on the same deployment. */
  async restart(): Promise<void> {
    const old = this.#hostd!;
    const gone = new Promise((r) => old.child.once('exit', r));
    old.kill();
    await gone;
    this.#logBytesBefore += old.text().length;
    this.restarts++;
    await this.start();
  }

  /**
   * Case 8: a second hostd on the same region (another run and state dir) must refuse. One
   * that neither refused nor started within 30 s (Node itself slow to start on a loaded
   * machine) decides nothing.
   */
  async second(): Promise<'refused' | 'started' | 'undecided'> {
    const other = mkdtempSync(path.join(tmpdir(), 'sivshm-soak-second-'));
    try {
      const second = {
        ...this.d,
        runDir: path.join(other, 'run'),
        stateDir: path.join(other, 'state'),
      };
      const h = await startHostd(second, [], { logLevel: 'info', timeoutMs: 30_000 }).catch(
        (e: Error) => e,
      );
      if (!(h instanceof Error)) {
        h.kill();
        return 'started';
      }
      if (/in use by another hostd/.test(h.message)) return 'refused';
      console.error(
        `soak: the second hostd neither refused nor started: ${h.message.slice(0, 400)}`,
      );
      return 'undecided';
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }

  async stop(): Promise<number | string | undefined> {
    return this.#hostd?.stop();
  }
}

async function startAttackers(d: Deployment): Promise<VmApp> {
  const app = await forkChild<{ event?: string } & Record<string, unknown>>({
    entry: siblingEntry(import.meta.url, 'soak-attackers'),
    args: [d.runDir],
    what: 'the soak attackers',
    ready: (ms) => ms.some((m) => m.event === 'ready'),
    pipeStderr: true,
  });
  return {
    app,
    tell: (cmd) => void (app.child.connected && app.child.send({ cmd })),
    ask: async <T>(cmd: string, answer: string): Promise<T> => {
      const from = app.messages.length;
      app.child.send({ cmd });
      for (let i = 0; i < 500; i++) {
        const m = app.messages.slice(from).find((x) => x.event === answer);
        if (m !== undefined) return m as T;
        await sleep(10);
      }
      throw new Error(`the soak attackers did not answer ${cmd}`);
    },
    stop: () => app.stop(),
  };
}

async function main(): Promise<void> {
  const { durationS, restartEveryS } = options();
  const d = soakDeployment();
  const hostd = new HostdUnderSoak(d);
  const apps: VmApp[] = [];
  const victim = new Victim(d.socket('victim'));
  let exitCode = 0;
  try {
    await hostd.start();
    const provider = await startProviderApp(d);
    apps.push(provider);
    const consumer = await startConsumerApp(d, 'cluster', ['speed', 'media']);
    apps.push(consumer);
    const hog = await startHogApp(d, 'hog');
    apps.push(hog);
    const attackers = await startAttackers(d);
    apps.push(attackers);
    provider.tell('measure');
    void victim.run();
    const f = await runFor(durationS, restartEveryS, { hostd, provider, consumer, victim });
    const dead = apps.filter((a) => a.app.gone);
    for (const a of dead) {
      console.error(
        `soak: bound broken: an app exited during the soak (exit ${a.app.child.exitCode ?? a.app.child.signalCode}): ${a.app.stderr.join('').slice(-3000)}`,
      );
    }
    if (dead.length > 0) throw new Error(`${dead.length} app(s) exited during the soak`);
    const figures: SoakFigures = {
      ...f,
      provider: await provider.ask<ProviderFigures>('report', 'figures'),
      consumer: await consumer.ask<ConsumerFigures>('report', 'consumer'),
      hog: await hog.ask<HogFigures>('report', 'hog'),
      attackers: await attackers.ask<Record<string, number>>('report', 'attackers'),
    };
    printFigures(figures);
    const broken = checkBounds(figures);
    for (const b of broken) console.error(`soak: bound broken: ${b}`);
    exitCode = broken.length === 0 ? 0 : 1;
  } catch (e) {
    console.error(`soak: ${(e as Error).message}`);
    exitCode = 1;
  } finally {
    victim.stop();
    for (const a of apps.reverse()) await a.stop().catch(() => undefined);
    keepStderr(apps);
    const code = await hostd.stop();
    if (code !== 0) console.error(`soak: hostd exited ${String(code)} on SIGTERM`);
    d.cleanup();
  }
  process.exit(exitCode);
}

/** What the apps wrote to stderr, in files beside the run (named on the console). */
function keepStderr(apps: readonly VmApp[]): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'sivshm-soak-stderr-'));
  for (const [i, a] of apps.entries()) {
    const text = a.app.stderr.join('');
    if (text.length > 0) writeFileSync(path.join(dir, `app-${i}-${a.app.child.pid}.log`), text);
  }
  console.log(`soak: the apps' stderr is in ${dir}`);
}

interface Running {
  readonly hostd: HostdUnderSoak;
  readonly provider: VmApp;
  readonly consumer: VmApp;
  readonly victim: Victim;
}

/** The soak's clock: samples, junk events, restarts, case 8 and the progress line. */
async function runFor(
  durationS: number,
  restartEveryS: number,
  r: Running,
): Promise<Omit<SoakFigures, 'provider' | 'consumer' | 'hog' | 'attackers'>> {
  const t0 = Date.now();
  const end = t0 + durationS * 1000;
  let nextRestart = restartEveryS > 0 ? t0 + restartEveryS * 1000 : Infinity;
  let nextSecond = t0 + (restartEveryS > 0 ? restartEveryS * 500 : durationS * 500);
  let nextJunk = t0 + 3000;
  let nextProgress = t0 + 10_000;
  let survived = 0;
  let secondTries = 0;
  let secondRefused = 0;
  const checks: Promise<void>[] = [];
  while (Date.now() < end) {
    await sleep(500);
    r.hostd.sample();
    const now = Date.now();
    if (now >= nextJunk) {
      r.provider.tell('junk');
      nextJunk = now + 3000;
    }
    if (now >= nextSecond) {
      const outcome = await r.hostd.second();
      if (outcome !== 'undecided') secondTries++;
      if (outcome === 'refused') secondRefused++;
      nextSecond = restartEveryS > 0 ? nextSecond + restartEveryS * 1000 : Infinity;
    }
    if (now >= nextRestart && now < end - 15_000) {
      await r.hostd.restart();
      const at = Date.now();
      checks.push(survives(r, at).then((ok) => void (ok && survived++)));
      nextRestart = now + restartEveryS * 1000;
    }
    if (now >= nextProgress) {
      const c = await r.consumer.ask<ConsumerFigures>('report', 'consumer').catch(() => undefined);
      console.log(
        `[${Math.round((now - t0) / 1000)}/${durationS} s] restarts ${r.hostd.restarts}, victim handshakes ${r.victim.handshakesMs.length} (failed ${r.victim.failures}${r.victim.lastError === '' ? '' : `, last: ${r.victim.lastError.slice(0, 80)}`}), events ${c?.events ?? '?'}, hostd RSS ${r.hostd.rssMax.toFixed(0)} MiB max, fds ${r.hostd.fdsMax} max, log ${(r.hostd.logBytes / 1024).toFixed(0)} KiB`,
      );
      nextProgress = now + 10_000;
    }
  }
  await Promise.all(checks);
  return {
    durationS: (Date.now() - t0) / 1000,
    restarts: r.hostd.restarts,
    restartsSurvived: survived,
    secondTries,
    secondRefused,
    handshakesMs: r.victim.handshakesMs,
    handshakeFailures: r.victim.failures,
    rssMinMiB: r.hostd.rssMin,
    rssMaxMiB: r.hostd.rssMax,
    fdsMax: r.hostd.fdsMax,
    logBytes: r.hostd.logBytes,
  };
}

/** After a restart at `at`: within 20 s, the victim handshakes again and events flow again. */
async function survives(r: Running, at: number): Promise<boolean> {
  const before = (await r.consumer.ask<ConsumerFigures>('report', 'consumer')).events;
  for (let waited = 0; waited < 20_000; waited += 250) {
    const events = (await r.consumer.ask<ConsumerFigures>('report', 'consumer')).events;
    if (r.victim.lastGrantAt > at && events > before + 10) return true;
    await sleep(250);
  }
  return false;
}

await main();
