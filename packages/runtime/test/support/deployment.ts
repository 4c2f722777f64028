// The runtime's integration-test deployment: the example's VehicleSpeed between `infotainment`
// (provides) and `cluster` (consumes), on @sivshm/testing's deployment harness; the
// infotainment VM forked from ./provider-vm.ts; and `setUpEachTest`, which gives each test of a
// suite its own deployment, hostd, provider VM and Node and stops them after it.
import type { ChildProcess } from 'node:child_process';
import {
  forkChild,
  makeDeployment as makeTestDeployment,
  siblingEntry,
  startHostd,
  type Deployment,
  type HostdProcess,
} from '@sivshm/testing';
import { Node, type NodeOpenOptions } from '../../src/index.js';

export {
  readStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
  type StatusLike,
} from '@sivshm/testing';

/**
 * `extraVms` adds VMs (ids 3, 4, …) that take part in nothing; `idleTimeoutMs` is VehicleSpeed's
 * idle timeout (none unless given).
 */
export function makeDeployment(
  options: { extraVms?: readonly string[]; idleTimeoutMs?: number } = {},
): Deployment {
  return makeTestDeployment({
    label: 'runtime',
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'cluster' },
      ...(options.extraVms ?? []).map((name, i) => ({ id: i + 3, name })),
    ],
    services: [
      options.idleTimeoutMs === undefined
        ? 'VehicleSpeed'
        : { name: 'VehicleSpeed', idleTimeoutMs: options.idleTimeoutMs },
    ],
  });
}

/** A child process with a bounded stop (hostd or a VM). */
export interface Child {
  readonly child: ChildProcess;
  stop(): Promise<unknown>;
}

/** Messages a provider VM process reports over IPC. */
export interface ProviderReport {
  readonly event: 'ready' | 'consumers' | 'error';
  readonly count?: number;
  readonly message?: string;
}

/** The infotainment VM's process and what it reported. */
export type ProviderVm = Child & { reports: ProviderReport[] };

/** Forks the infotainment VM (./provider-vm.ts) and resolves once it offers. */
export async function startProviderVm(d: Deployment): Promise<ProviderVm> {
  const p = await forkChild<ProviderReport>({
    entry: siblingEntry(import.meta.url, 'provider-vm'),
    args: [d.configPath, d.runDir],
    what: 'the provider VM',
    ready: (r) => r.some((m) => m.event === 'ready'),
    failed: (r) => r.some((m) => m.event === 'error'),
    pipeStderr: true,
  });
  return { child: p.child, stop: () => p.stop(), reports: p.messages };
}

/** What `setUpEachTest` starts before each test, in this order. */
export interface TestRigOptions {
  /** The deployment; `makeDeployment()` unless given. */
  readonly deployment?: () => Deployment;
  /** Start hostd (true unless false), with these extra arguments. */
  readonly hostd?: boolean;
  readonly hostdArgs?: readonly string[];
  /** Fork the provider VM (false unless true). */
  readonly provider?: boolean;
  /** Open this process's Node as `cluster` (false unless true). */
  readonly node?: boolean;
}

/**
 * One test's deployment and processes. A test starts more through the methods; whatever was
 * started is stopped after the test (Nodes closed, provider VMs, then hostds, then the files).
 */
export interface TestRig {
  readonly d: Deployment;
  /** The hostd started last. */
  readonly hostd: HostdProcess;
  /** The provider VM forked last. */
  readonly provider: ProviderVm;
  /** The Node opened last. */
  readonly node: Node;
  startHostd(extraArgs?: readonly string[]): Promise<HostdProcess>;
  startProvider(): Promise<ProviderVm>;
  /** `Node.open` on this deployment as `cluster`, unless `options` say otherwise. */
  openNode(options?: Partial<NodeOpenOptions>): Promise<Node>;
}

/** The last of `started`, or an error naming what the test never started. */
function last<T>(started: readonly T[], what: string): T {
  const x = started.at(-1);
  if (x === undefined) throw new Error(`the test started no ${what}`);
  return x;
}

/** Registers the current suite's beforeEach and afterEach that set up and tear down a TestRig. */
export function setUpEachTest(options: TestRigOptions = {}): TestRig {
  let deployment: Deployment | undefined;
  const hostds: HostdProcess[] = [];
  const providers: ProviderVm[] = [];
  const nodes: Node[] = [];
  const rig: TestRig = {
    get d() {
      if (deployment === undefined) throw new Error('the deployment exists only during a test');
      return deployment;
    },
    get hostd() {
      return last(hostds, 'hostd');
    },
    get provider() {
      return last(providers, 'provider VM');
    },
    get node() {
      return last(nodes, 'Node');
    },
    async startHostd(extraArgs = []) {
      const h = await startHostd(rig.d, extraArgs);
      hostds.push(h);
      return h;
    },
    async startProvider() {
      const p = await startProviderVm(rig.d);
      providers.push(p);
      return p;
    },
    async openNode(o = {}) {
      const d = rig.d;
      const n = await Node.open({ config: d.configPath, vm: 'cluster', runDir: d.runDir, ...o });
      nodes.push(n);
      return n;
    },
  };
  beforeEach(async () => {
    deployment = (options.deployment ?? makeDeployment)();
    if (options.hostd !== false) await rig.startHostd(options.hostdArgs);
    if (options.provider === true) await rig.startProvider();
    if (options.node === true) await rig.openNode();
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
    for (const p of providers.splice(0)) {
      p.child.kill('SIGCONT'); // a test may have stopped it (SIGSTOP); stopped, it cannot exit
      await p.stop();
    }
    for (const h of hostds.splice(0)) await h.stop();
    deployment?.cleanup();
    deployment = undefined;
  });
  return rig;
}
