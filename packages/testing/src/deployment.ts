import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { examplePath } from './paths.js';
import {
  randomGrantKey,
  writeServicesYaml,
  type ServiceChoice,
  type VmEntry,
} from './services-yaml.js';

/** A throwaway deployment: a config in a temp dir and the folders hostd is started with. */
export interface Deployment {
  readonly dir: string;
  readonly configPath: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly regionPath: string;
  /** The control socket hostd listens on for VM `name`. */
  socket(name: string): string;
  readonly statusSocket: string;
  /** The key file of VM `name` (with `grantKeys: 'file'`). */
  keyFile(name: string): string;
  /** Removes the temp dir and the region file. */
  cleanup(): void;
}

export interface DeploymentOptions {
  /** Names the temp dir and the region file (`sivshm-<label>-…`), so leftovers say whose. */
  readonly label: string;
  /** The VMs; each gets a fresh random key unless it names one. */
  readonly vms: readonly Omit<VmEntry, 'grantKey'>[];
  readonly services: readonly (string | ServiceChoice)[];
  readonly regionSize?: string;
  readonly channelCapacity?: number;
  /** `region.pageGranule` (4096, layout v1, unless given). */
  readonly pageGranule?: number;
  /**
   * `inline` (default): keys in the config. `file`: each VM's key in `<dir>/config/<vm>.key`
   * (what a launcher hands QEMU), and the protos copied beside the config with relative paths,
   * so the config can be copied into a guest image as it is.
   */
  readonly grantKeys?: 'inline' | 'file';
  /** The region file; a fresh `/dev/shm` name by default. */
  readonly regionPath?: string;
}

/** Writes a deployment's config; nothing is started. */
export function makeDeployment(o: DeploymentOptions): Deployment {
  const dir = mkdtempSync(join(tmpdir(), `sivshm-${o.label}-`));
  const regionPath =
    o.regionPath ??
    `/dev/shm/sivshm-${o.label}-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const cfgDir = join(dir, 'config');
  mkdirSync(join(cfgDir, 'proto'), { recursive: true, mode: 0o700 });
  const keyFile = (name: string): string => join(cfgDir, `${name}.key`);
  const files = o.grantKeys === 'file';
  const vms: VmEntry[] = o.vms.map((vm) => {
    if (!files) return { ...vm, grantKey: { hex: randomGrantKey() } };
    writeFileSync(keyFile(vm.name), randomBytes(32), { mode: 0o600 });
    return { ...vm, grantKey: { file: keyFile(vm.name) } };
  });
  if (files)
    copyFileSync(examplePath('proto', 'vehicle.proto'), join(cfgDir, 'proto', 'vehicle.proto'));
  const configPath = join(cfgDir, 'services.yaml');
  writeServicesYaml(configPath, {
    region: {
      path: regionPath,
      ...(o.regionSize === undefined ? {} : { size: o.regionSize }),
      ...(o.channelCapacity === undefined ? {} : { channelCapacity: o.channelCapacity }),
      ...(o.pageGranule === undefined ? {} : { pageGranule: o.pageGranule }),
    },
    vms,
    services: o.services,
    protos: files ? 'relative' : 'absolute',
  });
  return deploymentAt(dir, regionPath);
}

/**
 * The deployment laid out in `dir` (config and key files in `<dir>/config`, hostd's state and
 * run dirs beside them) on the region file `regionPath`, for a caller that wrote its own
 * `<dir>/config/services.yaml`.
 */
export function deploymentAt(dir: string, regionPath: string): Deployment {
  const cfgDir = join(dir, 'config');
  const runDir = join(dir, 'run');
  return {
    dir,
    configPath: join(cfgDir, 'services.yaml'),
    stateDir: join(dir, 'state'),
    runDir,
    regionPath,
    socket: (name) => join(runDir, `${name}.sock`),
    statusSocket: join(runDir, 'status.sock'),
    keyFile: (name) => join(cfgDir, `${name}.key`),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(regionPath, { force: true });
      // hostd's region lock, left behind only when hostd was killed.
      rmSync(`${regionPath}.lock`, { force: true });
    },
  };
}
