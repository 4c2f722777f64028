// One run of the demo: hostd and the two VM processes, what they report, and the order in
// which they start and stop. main.ts only parses arguments, installs signals and prints.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DemoArgs } from './demo-args.js';
import { startHostd, startVm, type DemoChild } from './demo-processes.js';
import { LiveView, quantile } from './live-view.js';
import { writeRunConfig } from './run-config.js';
import type { ClusterReport, InfotainmentReport } from './vm/vm-report.js';

export interface DemoRoots {
  /** apps/demo: where the VM entry points live. */
  demo: string;
  /** The repository: where hostd's binary lives. */
  repo: string;
}

export class DemoRun {
  readonly #dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-demo-'));
  readonly #regionPath = `/dev/shm/sivshm-demo-${process.pid}`;
  readonly #config = path.join(this.#dir, 'services.yaml');
  readonly #runDir = path.join(this.#dir, 'run');
  readonly #children: DemoChild[] = [];
  #stopping = false;
  #cluster: ClusterReport | undefined;
  #info: InfotainmentReport | undefined;
  #eventsPerS = 0;
  #failure: string | undefined;
  /** The reader of the output went away (`npm start | head`): nobody reads a verdict now. */
  #readerGone = false;
  /** A stop was asked for: the start goes no further than the process it is waiting for. */
  #stopAsked = false;
  #stopRequested: () => void = () => {};
  readonly #stopped = new Promise<void>((r) => (this.#stopRequested = r));

  constructor(
    private readonly args: DemoArgs,
    private readonly roots: DemoRoots,
    private readonly say: (line: string) => void,
  ) {}

  /** Asks the run to stop (Ctrl-C, --duration, a child that died). */
  requestStop(): void {
    this.#stopAsked = true;
    this.#stopRequested();
  }

  /**
   * The output's reader closed the pipe: stop as on Ctrl-C and end quietly with 0, whatever
   * the run got to (even before its first event), since no one reads the verdict any more.
   */
  readerGone(): void {
    this.#readerGone = true;
    this.requestStop();
  }

  /** Second Ctrl-C: kill everything now and remove what the run created. */
  killNow(): void {
    for (const c of this.#children) c.child.kill('SIGKILL');
    this.#removeFiles();
  }

  /** Starts, shows the live view until asked to stop, stops; returns the exit code. */
  async run(): Promise<number> {
    try {
      await this.#start();
      await this.#watch();
    } catch (e) {
      this.#failure ??= (e as Error).message;
    } finally {
      await this.#stop();
    }
    return this.#summary();
  }

  async #start(): Promise<void> {
    const { config, runDir } = { config: this.#config, runDir: this.#runDir };
    writeRunConfig(this.args.config, config, this.#regionPath, this.args.mode);
    this.say(
      `config  ${this.args.config} (region ${this.#regionPath}, every channel ${this.args.mode})`,
    );
    const hostd = await startHostd(this.roots.repo, {
      config,
      stateDir: path.join(this.#dir, 'state'),
      runDir,
      ...(this.args.metrics === undefined ? {} : { metrics: this.args.metrics }),
    });
    this.#children.push(hostd);
    if (this.#stopAsked) return;
    this.say(`hostd   pid ${hostd.child.pid}, run dir ${runDir}`);
    if (this.args.metrics !== undefined) {
      this.say(`metrics http://${this.args.metrics}/metrics`);
    }
    const infotainment = await startVm(this.roots.demo, 'infotainment', { config, runDir }, (r) => {
      if (r.kind === 'infotainment') this.#info = r;
    });
    this.#children.unshift(infotainment);
    if (this.#stopAsked) return;
    this.say(
      `vm      infotainment pid ${infotainment.child.pid}: offers VehicleSpeed, MediaControl`,
    );
    // Events/s from consecutive cluster reports (each a second apart in the cluster's time),
    // so the view's own timer cannot alias with the reports.
    let previous: { events: number; at: number } | undefined;
    const clusterVm = await startVm(this.roots.demo, 'cluster', { config, runDir }, (r) => {
      if (r.kind !== 'cluster') return;
      const at = performance.now();
      if (previous !== undefined && at > previous.at) {
        this.#eventsPerS = Math.round(((r.events - previous.events) * 1000) / (at - previous.at));
      }
      previous = { events: r.events, at };
      this.#cluster = r;
    });
    this.#children.unshift(clusterVm);
    previous = { events: 0, at: performance.now() }; // its first report counts from here
    this.say(`vm      cluster pid ${clusterVm.child.pid}: consumes both`);
    for (const c of this.#children) {
      void c.exited.then((code) => {
        if (this.#failure === undefined && !this.#stopping) {
          this.#failure = `${c.name} exited unexpectedly (${String(code)}):\n${c.stderr()}`;
          this.requestStop();
        }
      });
    }
  }

  async #watch(): Promise<void> {
    const view = new LiveView(process.stdout);
    const t0 = Date.now();
    const timer = setInterval(() => {
      view.show({
        elapsedS: Math.round((Date.now() - t0) / 1000),
        cluster: this.#cluster,
        infotainment: this.#info,
        eventsPerS: this.#eventsPerS,
      });
    }, 1000);
    const bound =
      this.args.durationS > 0
        ? setTimeout(() => this.requestStop(), this.args.durationS * 1000 + 200)
        : undefined;
    await this.#stopped;
    clearInterval(timer);
    clearTimeout(bound);
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    // The provider stops publishing first and reports its final count; the events still in
    // the rings then reach the cluster (far less than the pause) before its channels close,
    // so "received of sent" compares like with like.
    const provider = this.#children.find((c) => c.name === 'infotainment');
    if (provider?.child.connected === true) {
      provider.child.send({ cmd: 'quiesce' });
      await new Promise((r) => setTimeout(r, 200));
    }
    // VMs next (StopOffer, channels closed, revokes acknowledged), then hostd.
    for (const c of this.#children) {
      const code = await c.stop();
      if (code !== 0 && this.#failure === undefined && c.name !== 'hostd') {
        this.#failure = `${c.name} did not stop cleanly (exit ${String(code)}):\n${c.stderr()}`;
      }
    }
    this.#removeFiles();
  }

  #removeFiles(): void {
    rmSync(this.#dir, { recursive: true, force: true });
    rmSync(this.#regionPath, { force: true });
  }

  #summary(): number {
    if (this.#readerGone) return 0;
    const cluster = this.#cluster;
    const rtt = cluster?.rttMs ?? [];
    const hs = Object.entries(cluster?.handshakeMs ?? {})
      .map(([n, v]) => `${n} ${v === undefined ? '–' : v.toFixed(2)} ms`)
      .join(', ');
    this.say(
      `done    ${cluster?.events ?? 0} events received of ${this.#info?.sent ?? 0} sent, ` +
        `${rtt.length} method calls (rtt p50 ${quantile(rtt, 0.5)?.toFixed(2) ?? '–'} ms, ` +
        `p99 ${quantile(rtt, 0.99)?.toFixed(2) ?? '–'} ms), handshake ${hs || '–'}`,
    );
    if (this.#failure !== undefined) {
      process.stderr.write(`demo failed: ${this.#failure}\n`);
      return 1;
    }
    if ((cluster?.events ?? 0) === 0) {
      process.stderr.write('demo failed: no events reached the cluster VM\n');
      return 1;
    }
    return 0;
  }
}
