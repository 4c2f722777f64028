// The runtime's integration-test deployment: the example's VehicleSpeed between `infotainment`
// (provides) and `cluster` (consumes), on @sivshm/testing's deployment harness; and the
// infotainment VM forked from ./provider-vm.ts.
import type { ChildProcess } from 'node:child_process';
import {
  forkChild,
  makeDeployment as makeTestDeployment,
  siblingEntry,
  type Deployment,
} from '@sivshm/testing';

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

/** Forks the infotainment VM (./provider-vm.ts) and resolves once it offers. */
export async function startProviderVm(
  d: Deployment,
): Promise<Child & { reports: ProviderReport[] }> {
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
