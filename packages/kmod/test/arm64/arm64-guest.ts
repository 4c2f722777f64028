/**
 * The arm64 guest with 16 KiB pages: Debian's `linux-image-6.12-arm64-16k` under
 * qemu-system-aarch64 (TCG), sivshm.ko cross-built against the matching headers, and a busybox
 * initramfs with static arm64 tools. The .debs are fetched once into a cache folder by
 * `fetch-arm64-guest.sh` (without touching the host's dpkg); everything else is built per run in
 * a work folder, so the source tree stays clean.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  bootGuest,
  copyKernelModules,
  kmodRoot,
  makeRootfs,
  packInitramfs,
} from '@sivshm/testing/qemu';

/** The fetch can download ~100 MB on a cold cache. */
const FETCH_TIMEOUT_MS = 600_000;

/** The cross compiler for the guest's static tools. */
export const ARM64_CC = 'aarch64-linux-gnu-gcc';

/** What the cache holds once fetched. */
export interface Arm64Kit {
  /** Staging root: boot/, lib/modules/, usr/src/ of the arm64 packages. */
  readonly root: string;
  readonly kver: string;
  readonly vmlinuz: string;
  readonly headers: string;
  readonly busybox: string;
}

/** The host tools this tier needs that are not on every machine, with their Debian packages. */
export function missingArm64Tools(): string[] {
  const missing: string[] = [];
  const has = (cmd: string, arg: string): boolean => {
    try {
      execFileSync(cmd, [arg], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!has('qemu-system-aarch64', '--version'))
    missing.push('qemu-system-aarch64 (qemu-system-arm)');
  if (!has(ARM64_CC, '--version')) {
    missing.push(`${ARM64_CC} (gcc-aarch64-linux-gnu)`);
  }
  for (const [cmd, pkg] of [
    ['cpio', 'cpio'],
    ['xz', 'xz-utils'],
    ['dpkg-deb', 'dpkg'],
  ] as const) {
    if (!has(cmd, '--version')) missing.push(`${cmd} (${pkg})`);
  }
  return missing;
}

/** Runs the fetch script (a no-op on a warm cache) and describes what it unpacked. */
export function fetchArm64Kit(): Arm64Kit {
  const script = join(kmodRoot(), 'test/arm64/fetch-arm64-guest.sh');
  const root = execFileSync('bash', [script], {
    encoding: 'utf8',
    timeout: FETCH_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const kver = readFileSync(join(root, 'kver'), 'utf8').trim();
  return {
    root,
    kver,
    vmlinuz: join(root, 'boot', `vmlinuz-${kver}`),
    headers: join(root, 'usr/src', `linux-headers-${kver}`),
    busybox: join(root, 'bin/busybox'),
  };
}

/**
 * The initramfs: arm64 busybox, `/init` = `init`, the modules (a Debian module is xz-packed;
 * busybox's insmod gets it unpacked) under /lib/modules by their modprobe names and the tools
 * under /bin.
 */
export function packArm64Initramfs(
  work: string,
  kit: Arm64Kit,
  init: string,
  modules: readonly string[],
  tools: Record<string, string>,
): string {
  const rootfs = join(work, 'rootfs');
  makeRootfs(rootfs, [], kit.busybox);
  copyKernelModules(modules, join(rootfs, 'lib/modules'));
  for (const [name, path] of Object.entries(tools)) copyFileSync(path, join(rootfs, 'bin', name));
  writeFileSync(join(rootfs, 'init'), init);
  for (const f of ['init', ...Object.keys(tools).map((t) => `bin/${t}`)]) {
    chmodSync(join(rootfs, f), 0o755);
  }
  const out = join(work, 'initramfs.cpio.gz');
  packInitramfs(rootfs, out);
  return out;
}

/** A module of the arm64 kernel package by file name (`qemu_fw_cfg.ko.xz`). */
export function kernelModule(kit: Arm64Kit, fileName: string): string {
  const hits = execFileSync('find', [join(kit.root, 'lib/modules', kit.kver), '-name', fileName], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter((l) => l !== '');
  if (hits[0] === undefined || !existsSync(hits[0])) {
    throw new Error(`${fileName} is not in ${kit.kver}'s modules`);
  }
  return hits[0];
}

export interface Arm64Boot {
  readonly kit: Arm64Kit;
  readonly initrd: string;
  readonly serialLog: string;
  readonly append: string;
  /** Extra QEMU arguments: the ivshmem device, fw_cfg items. */
  readonly devices: readonly string[][];
  readonly timeoutMs: number;
}

/**
 * Boots the guest on `virt` with `-cpu max` (pointer authentication by QEMU's own cheap
 * algorithm: the architected one is far slower under TCG) and resolves with its console once
 * QEMU exits; a guest still running after `timeoutMs` is killed and says so in the log.
 */
export async function bootArm64(b: Arm64Boot): Promise<{ code: number | null; log: string }> {
  const guest = bootGuest({
    name: 'arm64-16k',
    kver: b.kit.kver,
    initrd: b.initrd,
    memory: '256M',
    serialLog: b.serialLog,
    append: b.append,
    devices: b.devices,
    timeoutMs: b.timeoutMs,
    arch: {
      qemu: 'qemu-system-aarch64',
      machine: ['-M', 'virt', '-cpu', 'max,pauth-impdef=on'],
      kernel: b.kit.vmlinuz,
      console: 'ttyAMA0',
    },
  });
  const { code, log } = await guest.exited;
  return { code, log };
}
