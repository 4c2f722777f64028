import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  CaLock,
  configRights,
  cryptoSelfTest,
  handshakeSelfTest,
  initCaDirectory,
  openCaDirectory,
  type CryptoBackend,
  type OpenedCa,
  type ServiceConfig,
} from '@sivshm/core';
import {
  ChannelTableWriter,
  LockFile,
  RegionLayout,
  closeFd,
  controlPathFor,
  createControlFile,
  createRegionFile,
  mapFile,
  writeRegionHeader,
  unmap,
  type ControlFile,
  type MappedFile,
  type RegionLayoutInfo,
} from '@sivshm/transport-ivshmem';
import { HostdError } from '../errors/hostd-error.js';
import type { JsonLogger } from '../log/logger.js';

/** Takes `<runDir>/hostd.pid`, refusing when a live hostd holds it. */
export function claimPidFile(file: string): void {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new HostdError(
          'ERR_STARTUP',
          `another hostd (pid ${pid}) uses ${path.dirname(file)}; stop it or pick another --run-dir`,
        );
      } catch (e) {
        if (HostdError.is(e)) throw e;
        // ESRCH: a stale file of a dead hostd; take it over.
      }
    }
  } catch (e) {
    if (HostdError.is(e)) throw e;
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
}

/**
 * Runs the self-tests, then opens the CA directory `<stateDir>/ca` (created on first start)
 * with its epoch bumped: every grant of a previous run is dead from here on.
 */
export async function openHostdCa(o: {
  stateDir: string;
  config: ServiceConfig;
  crypto: CryptoBackend;
  log: JsonLogger;
}): Promise<OpenedCa> {
  const { crypto, log, config } = o;
  // Known answers for every primitive, then whole handshakes in memory, before the CA signs
  // anything (docs/security.md): a broken build stops hostd here, saying what failed; it also
  // warms the handshake code for the first VM.
  cryptoSelfTest(crypto);
  handshakeSelfTest(crypto);
  log.info('self-test-passed', { backend: crypto.name });
  const caDir = path.join(o.stateDir, 'ca');
  if (!existsSync(path.join(caDir, 'ca.key'))) {
    await initCaDirectory(caDir, { crypto });
    log.info('ca-created', { dir: caDir });
  }
  return openCaDirectory(caDir, {
    crypto,
    nowMs: () => BigInt(Date.now()),
    allowedRights: (vm) => configRights(config, vm),
    bumpEpoch: true,
  });
}

/**
 * The region file hostd owns: its fd (for the ivshmem server), mapping and layout, and the
 * read-only control file beside it (docs/protocol.md §10.4), where hostd keeps the header and
 * channel table guests read.
 */
export interface HostdRegion {
  readonly fd: number;
  readonly mapping: MappedFile;
  readonly layout: RegionLayoutInfo;
  readonly control: ControlFile;
}

/**
 * Creates the region file and its control file afresh, maps them and writes both headers for
 * `epoch`. The region keeps its own copy of the header and table for host tools that read the
 * region; guests read the control file's.
 */
export function createRegion(config: ServiceConfig, epoch: bigint): HostdRegion {
  // A region file left by a previous run belongs to the old epoch: start from a new file
  // (VMs still mapping the old one keep an orphaned copy whose grants no device accepts).
  rmSync(config.region.path, { force: true });
  const layout = RegionLayout.compute({
    regionSize: config.region.size,
    channelCapacity: config.region.channelCapacity,
    pageGranule: config.region.pageGranule,
  });
  const fd = createRegionFile(config.region.path, config.region.size, { exclusive: true });
  let mapping: MappedFile;
  try {
    mapping = mapFile(config.region.path, 0, config.region.size, { writable: true });
  } catch (e) {
    closeFd(fd);
    rmSync(config.region.path, { force: true });
    throw e;
  }
  let control: ControlFile;
  try {
    writeRegionHeader(new Uint8Array(mapping.shared), layout, epoch);
    control = createControlFile(controlPathFor(config.region.path), layout, epoch);
  } catch (e) {
    unmap(mapping.handle);
    closeFd(fd);
    rmSync(config.region.path, { force: true });
    throw e;
  }
  return { fd, mapping, layout, control };
}

/**
 * The channel table hostd writes: the control file's, which hostd reads back and decides on (no
 * guest can write it, docs/protocol.md §10.4), with the region's copy as its mirror for host
 * tools that read the region.
 */
export function channelTableOf(region: HostdRegion): ChannelTableWriter {
  return new ChannelTableWriter(new Uint8Array(region.control.mapping.shared), region.layout, {
    mirror: new Uint8Array(region.mapping.shared),
  });
}

/**
 * Takes the lock of `<stateDir>/ca` for this hostd, naming its admin socket, or refuses to start
 * naming the holder: a `sivshm ca` command in progress or another hostd.
 */
export function takeCaLock(o: { stateDir: string; runDir: string }): CaLock {
  const caDir = path.join(o.stateDir, 'ca');
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  try {
    // The kernel holds the lock (LockFile): free the moment hostd exits, however it exits.
    const holder = { owner: 'hostd', adminSocket: path.join(o.runDir, 'admin.sock') } as const;
    return CaLock.take(caDir, holder, LockFile);
  } catch (e) {
    throw new HostdError('ERR_STARTUP', (e as Error).message, { cause: e });
  }
}
