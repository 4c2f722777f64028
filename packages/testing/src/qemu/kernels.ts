/**
 * Which kernels the guest tiers boot. The choice is explicit, never "the newest installed":
 * installing a second kernel must not silently move a tier from one kernel to the other.
 *
 * `SIVSHM_VM_KERNELS` lists kernels, comma-separated; each entry is a full version as
 * `/lib/modules` names it (`6.12.118+deb12-amd64`) or a series (`6.12`: the newest installed
 * kernel of that series). Every listed kernel must be installed, or the tier fails its
 * preflight. Unset, the tiers run on every supported series installed here (a supported series
 * not installed is reported as skipped, with the packages that bring it).
 */
import { existsSync, readdirSync } from 'node:fs';
import type { TierResults } from './tier-results.js';

/**
 * The kernel series the guest tiers support and CI runs: Debian 12's own kernel and the 6.12
 * kernel Debian 12's security suite builds with the host's compiler.
 */
export const SUPPORTED_KERNEL_SERIES = ['6.1', '6.12'] as const;

/** Debian 12 packages bringing each supported series, image and build tree. */
const PACKAGES: Record<string, string> = {
  '6.1': 'linux-image-amd64 linux-headers-amd64',
  '6.12': 'linux-image-6.12-amd64 linux-headers-6.12-amd64',
};

/** A kernel a tier boots: its version (`uname -r`) and the label its checks are named with. */
export interface GuestKernel {
  readonly version: string;
  /** `6.12`, or the full version when two chosen kernels share a series. */
  readonly label: string;
}

/** What the choice came to: kernels to run, series left out, entries that name no kernel. */
export interface KernelChoice {
  readonly kernels: readonly GuestKernel[];
  /** Supported series not installed (only when the choice is the default): why, per series. */
  readonly notInstalled: ReadonlyArray<{ readonly series: string; readonly hint: string }>;
  /** Listed entries that match no installed kernel, with what to install. */
  readonly unknown: readonly string[];
}

/** `6.12` of `6.12.118+deb12-amd64`, `6.1` of `6.1.0-57-amd64`. */
export function kernelSeries(version: string): string {
  return /^(\d+\.\d+)/.exec(version)?.[1] ?? version;
}

const byVersion = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/** Installed kernels with both a bootable image and a build tree, oldest first. */
export function installedKernels(
  modulesDir = '/lib/modules',
  bootable = (v: string): boolean =>
    existsSync(`/boot/vmlinuz-${v}`) && existsSync(`${modulesDir}/${v}/build`),
): string[] {
  const versions = existsSync(modulesDir) ? readdirSync(modulesDir) : [];
  return versions.filter(bootable).sort(byVersion);
}

/** The packages that bring `series` (or a generic hint for a series this file does not know). */
const installHint = (series: string): string =>
  `apt-get install ${PACKAGES[series] ?? `a ${series} kernel image and its headers`}`;

/** Resolves `spec` (see the header) against `installed`. */
export function chooseKernels(
  spec: string | undefined = process.env['SIVSHM_VM_KERNELS'],
  installed: readonly string[] = installedKernels(),
): KernelChoice {
  const newestOf = (series: string): string | undefined =>
    installed.filter((v) => kernelSeries(v) === series).at(-1);
  const versions: string[] = [];
  const unknown: string[] = [];
  const notInstalled: Array<{ series: string; hint: string }> = [];
  const entries = spec
    ?.split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries === undefined || entries.length === 0) {
    for (const series of SUPPORTED_KERNEL_SERIES) {
      const v = newestOf(series);
      if (v === undefined) notInstalled.push({ series, hint: installHint(series) });
      else versions.push(v);
    }
  } else {
    for (const e of entries) {
      const v = installed.includes(e) ? e : newestOf(e);
      if (v === undefined) unknown.push(`${e} (${installHint(kernelSeries(e))})`);
      else if (!versions.includes(v)) versions.push(v);
    }
  }
  const series = versions.map(kernelSeries);
  const kernels = versions.map((version, i) => ({
    version,
    label: series.indexOf(series[i]!) === series.lastIndexOf(series[i]!) ? series[i]! : version,
  }));
  return { kernels, notInstalled, unknown };
}

/** The kernel a guest said it runs (`@@ kernel <uname -r>`, printed by initScript's /init). */
export function guestKernelVersion(consoleText: string): string | undefined {
  return /^@@ kernel (\S+)\s*$/m.exec(consoleText)?.[1];
}

/**
 * Records `<guest>/runs-the-chosen-kernel`: guest `guest` booted `kernel` (QEMU was handed
 * that kernel's image, and this proves the guest ran it); prints `kernel <uname -r>`.
 */
export function checkGuestKernel(
  results: TierResults,
  guest: string,
  consoleText: string,
  kernel: GuestKernel,
): boolean {
  const ran = guestKernelVersion(consoleText);
  if (ran !== undefined) results.note(`kernel ${ran} (uname -r in the ${guest} guest)`);
  return results.record(
    `${guest}/runs-the-chosen-kernel`,
    ran === kernel.version,
    `the guest reported ${ran ?? 'no'} kernel; the tier chose ${kernel.version}`,
  );
}
