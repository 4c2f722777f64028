/**
 * The guest apps' half of `revoke-unplugs-device` (tier 3, issue 18): every window the runtime
 * maps, the app also maps itself, one page of its device window (`DEVICE_MAP_BASE` on the
 * runtime's own /dev/sivshm file: only a file holding a live device grant can, and only in the
 * process that opened it), reads it, and keeps that mapping — the runtime never unmaps it. A
 * region channel's file has no device window: the map is refused (EPERM) and nothing is kept.
 *
 * After the revoke and the unplug the mapping is still in /proc/self/maps (so a read of it is
 * not a read of an unmapped address, which would be SIGSEGV). The app's last act is to read it:
 * sivshm.ko zapped it and refuses the fault, so the read must end the app by SIGBUS (the guest's
 * init prints its exit status, app-image.ts). The page tables cannot be asked instead:
 * /proc/self/pagemap does not walk PFN mappings such as this one.
 *
 * The hook is made on the bundle's one copy of `KernelDevice` (as guest-receipt-skipper.ts
 * does): the runtime itself is unchanged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { DEVICE_MAP_BASE } from '@sivshm/abi';
import { KernelDevice, mapFile } from '@sivshm/transport-ivshmem';
import { IVSHMEM_PCI_ID } from './isolation-markers.js';

const PAGE = 4096;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Probe {
  readonly channelId: string;
  readonly page: Uint8Array;
}

/** The ivshmem PCI functions this guest has now (BDFs, from sysfs). */
export function ivshmemFunctions(): string[] {
  const dir = '/sys/bus/pci/devices';
  const id = (bdf: string, f: string): string => {
    try {
      return readFileSync(`${dir}/${bdf}/${f}`, 'utf8').trim();
    } catch {
      return ''; // the function left while we looked
    }
  };
  return readdirSync(dir).filter((b) => `${id(b, 'vendor')}:${id(b, 'device')}` === IVSHMEM_PCI_ID);
}

/** This process's one-page mappings of /dev/sivshm at DEVICE_MAP_BASE (their start addresses). */
function probeMappings(): number[] {
  const at = DEVICE_MAP_BASE.toString(16);
  const out: number[] = [];
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const [range, , offset, , , path] = line.split(/\s+/);
    if (path !== '/dev/sivshm' || offset?.replace(/^0+/, '') !== at) continue;
    const [a, b] = (range ?? '').split('-').map((x) => parseInt(x, 16));
    if (a !== undefined && b !== undefined && b - a === PAGE) out.push(a);
  }
  return out;
}

/** Probes of every device window this process maps (install before the node opens). */
export class DeviceMapProbes {
  readonly #probes: Probe[] = [];
  readonly #refused: string[] = [];

  /** Hooks `KernelDevice.open` so each file's `mapWindow` also maps a probe page of it. */
  install(): void {
    const open = KernelDevice.prototype.open;
    const probe = (fd: number, channelId: bigint): void => this.#probe(fd, channelId);
    KernelDevice.prototype.open = function (this: KernelDevice) {
      const file = open.call(this);
      const map = file.mapWindow.bind(file);
      file.mapWindow = (channelId: bigint) => {
        const m = map(channelId);
        const fd = file.eventFd();
        if (fd !== undefined) probe(fd, channelId);
        return m;
      };
      return file;
    };
  }

  #probe(fd: number, channelId: bigint): void {
    try {
      const page = new Uint8Array(mapFile(fd, DEVICE_MAP_BASE, PAGE, { writable: false }).shared);
      void page[0]; // faults the page in
      this.#probes.push({ channelId: channelId.toString(), page });
    } catch (e) {
      this.#refused.push(
        `${channelId}: ${(e as { errnoName?: string }).errnoName ?? (e as Error).message}`,
      );
    }
  }

  /** The first device-window probe (bounded): its channel id, or why there is none. */
  async mapped(timeoutMs: number): Promise<{ channelId: string } | string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const p = this.#probes[0];
      if (p !== undefined) return { channelId: p.channelId };
      if (Date.now() > end)
        return `no device window mapped within ${timeoutMs} ms (refused: ${this.#refused.join(', ')})`;
      await sleep(100);
    }
  }

  /** What the probes hold now, without touching their pages. */
  state(): { channels: string[]; mappings: number } {
    return { channels: this.#probes.map((x) => x.channelId), mappings: probeMappings().length };
  }

  /**
   * Reads the probe pages (of `channelId` only, when given: a channel the runtime lost and made
   * again left its old, zapped page behind): a zapped one faults (SIGBUS), ending this process.
   */
  touch(channelId?: string): number {
    let sum = 0;
    for (const p of this.#probes)
      if (channelId === undefined || p.channelId === channelId) sum += p.page[0] ?? 0;
    return sum;
  }
}

/**
 * Waits until the guest's ivshmem functions fall below `before` (the channel device left the
 * PCI list); bounded. The functions then, or why not.
 */
export async function waitDeviceLeaves(
  before: number,
  timeoutMs: number,
): Promise<{ functions: string[]; ms: number } | string> {
  const t0 = Date.now();
  for (;;) {
    const now = ivshmemFunctions();
    if (now.length < before) return { functions: now, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs)
      return `the guest still lists ${now.length} ivshmem functions (${now.join(' ')}) ${timeoutMs} ms after the revoke; expected fewer than ${before}`;
    await sleep(250);
  }
}
