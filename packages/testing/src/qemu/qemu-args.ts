/**
 * The command line of a test guest: one TCG CPU, no network, no display, the console on the
 * first serial port written to `serialLog`, the Debian kernel `kver` with `initrd`, and the
 * devices each tier adds (built with the helpers below).
 */
export interface GuestMachine {
  readonly kver: string;
  readonly initrd: string;
  /** Guest RAM (`256M`; a guest with Node needs room for its unpacked initramfs). */
  readonly memory: string;
  readonly serialLog: string;
  /** Appended to the kernel command line after the console settings. */
  readonly append: string;
  readonly devices: readonly string[][];
  /** Another architecture than this host's x86_64 (its kernel is then not under /boot). */
  readonly arch?: GuestArch;
}

/** What differs in a guest of another architecture: QEMU, its machine, kernel and console. */
export interface GuestArch {
  /** `qemu-system-aarch64`. */
  readonly qemu: string;
  /** Machine and CPU arguments (`-M virt -cpu max`). */
  readonly machine: readonly string[];
  readonly kernel: string;
  /** The console device on the kernel command line (`ttyAMA0`). */
  readonly console: string;
}

export function qemuArgs(m: GuestMachine): string[] {
  return [
    ...(m.arch?.machine ?? []),
    '-accel',
    'tcg',
    '-m',
    m.memory,
    '-smp',
    '1',
    '-nic',
    'none',
    '-no-reboot',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${m.serialLog}`,
    '-kernel',
    m.arch?.kernel ?? `/boot/vmlinuz-${m.kver}`,
    '-initrd',
    m.initrd,
    '-append',
    `console=${m.arch?.console ?? 'ttyS0'} loglevel=3 ${GUEST_TIMING_WATCHDOGS} ${m.append}`,
    ...m.devices.flat(),
  ];
}

/**
 * The guest's own stall detectors measure the host's scheduling under TCG, not the guest: on a
 * loaded host a vCPU thread is starved for seconds, and the kernel then prints an RCU stall or
 * soft-lockup report with a call trace, which the guests' dmesg checks would blame on the module.
 * Their limits are raised to the kernel's maximum (RCU 300 s, watchdog 60 s), far beyond any guest
 * run, so only a real hang of that length would still be reported (and the run's deadline fails
 * first).
 */
const GUEST_TIMING_WATCHDOGS = 'rcupdate.rcu_cpu_stall_timeout=300 watchdog_thresh=60';

/**
 * The region as a shared host file (`ivshmem-plain`): no doorbells. `readonly`: QEMU opens the
 * file read-only and drops the guest's writes to the BAR (the read-only control device).
 */
export function ivshmemPlain(
  path: string,
  size: number,
  o: { readonly id?: string; readonly addr?: number; readonly readonly?: boolean } = {},
): string[] {
  // several devices need distinct backend ids; `addr` pins the PCI slot (the guest's BDF)
  const id = o.id ?? 'hm';
  const addr = o.addr === undefined ? '' : `,addr=0x${o.addr.toString(16)}`;
  const ro = o.readonly === true ? ',readonly=on' : '';
  return [
    '-object',
    `memory-backend-file,size=${size},share=on${ro},mem-path=${path},id=${id}`,
    '-device',
    `ivshmem-plain,memdev=${id}${addr}`,
  ];
}

/** The PCI slot the read-only control device is pinned to: after every other device. */
export const CONTROL_DEVICE_SLOT = 0x1e;

/**
 * hostd's control file (`<region path>.control`, docs/protocol.md §10.4) as the guest's
 * read-only control device: `ivshmem-plain` on a `readonly=on,share=on` backend, in slot
 * {@link CONTROL_DEVICE_SLOT}. `size` is the file's size (a power of two; QEMU aborts on any
 * other BAR size).
 */
export function controlDevice(path: string, size: number): string[] {
  if (size <= 0 || (size & (size - 1)) !== 0) {
    throw new Error(`control file ${path} is ${size} bytes, not a power of two: QEMU would abort`);
  }
  return ivshmemPlain(path, size, { id: 'sivctl', addr: CONTROL_DEVICE_SLOT, readonly: true });
}

/** The region and the doorbells from an ivshmem server at `socket` (`ivshmem-doorbell`). */
export function ivshmemDoorbell(socket: string, vectors: number): string[] {
  return [
    '-chardev',
    `socket,id=ivs,path=${socket}`,
    '-device',
    `ivshmem-doorbell,chardev=ivs,vectors=${vectors}`,
  ];
}

/**
 * A second ISA serial port (`/dev/ttyS1` in the guest) behind a socket QEMU listens on, for a
 * host that plays hostd over a plain line.
 */
export function serialLine(socket: string): string[] {
  return [
    '-chardev',
    `socket,id=ctl,path=${socket},server=on,wait=off`,
    '-device',
    'isa-serial,chardev=ctl',
  ];
}

/**
 * A virtio-serial port named `name` whose chardev connects to `socket` (hostd listens there).
 * reconnect=1: when hostd drops the link (--vm-timeout, a protocol error), QEMU dials again
 * within 1 s, so the port works for the guest's next app.
 */
export function virtioSerialPort(socket: string, name: string): string[] {
  return [
    '-chardev',
    `socket,id=ctl,path=${socket},reconnect=1`,
    '-device',
    'virtio-serial-pci',
    '-device',
    `virtserialport,chardev=ctl,name=${name}`,
  ];
}

/** A fw_cfg item from a host file or a string (`opt/…` names). */
export function fwCfg(name: string, value: { file: string } | { string: string }): string[] {
  return [
    '-fw_cfg',
    'file' in value ? `name=${name},file=${value.file}` : `name=${name},string=${value.string}`,
  ];
}
