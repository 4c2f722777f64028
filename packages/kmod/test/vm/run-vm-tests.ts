/**
 * The kernel-module tier (`npm run test:vm -w @sivshm/kmod`), on @sivshm/testing's QEMU
 * harness.
 *
 * Builds sivshm.ko, a test module that runs @sivshm/core's grant vectors through the driver's
 * own grant check, and a static selftest; packs them into a busybox initramfs; writes a region
 * file with a layout v1 header; boots two TCG guests on it (`ivshmem-plain`) and plays hostd for
 * them over a second serial port (hostd-stand-in.ts). Then boots two guests on
 * `ivshmem-doorbell` with the project's ivshmem server, and one guest with Node that runs
 * transport-ivshmem's ChannelDevice contract suite against the real `/dev/sivshm`
 * (node-guest.ts, guest-runner.ts). Prints `ok <name>` / `not ok <name>: reason` per scenario
 * and a final `N passed, N failed, N skipped` line; exits non-zero on failure.
 * `SIVSHM_VM_ONLY=plain,doorbell,devices,node` runs only the named groups (the others are reported as
 * skipped), for work on one of them.
 *
 * All of it runs once per kernel the harness chose (`SIVSHM_VM_KERNELS`, see
 * @sivshm/testing's kernels.ts; by default every supported kernel installed): the module is
 * built with `W=1` against that kernel's build tree, and every check's name starts with the
 * kernel's series (`6.12/consumer/grant-accepted`), so a failure says which kernel it was on.
 */
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { sleep } from '@sivshm/testing';
import {
  bootGuest,
  buildSivshmModule,
  checkGuestKernel,
  buildStaticTool,
  initScript,
  ivshmemDoorbell,
  ivshmemPlain,
  kmodRoot,
  makeRootfs,
  openQmp,
  packInitramfs,
  preflight,
  qmpSocket,
  type QmpClient,
  selectedGroups,
  serialLine,
  TierResults,
  type GuestExit,
  type GuestKernel,
} from '@sivshm/testing/qemu';
import {
  DATA_AREA,
  REGION_SIZE,
  WIN_A,
  WIN_B,
  WIN_LEN,
  CHANDEV_SIZE,
  newGuest,
  serveControl,
  type ExtraRequest,
  writeChannelDevice,
  EPOCH,
  writeControlFile,
  writeRegion,
  type Guest,
} from './hostd-stand-in.js';
import { buildNodeLayer, judgeNodeGuest, nodeInitrd } from './node-guest.js';
import { judgeSelftest, judgeVectors } from './selftest-expectations.js';
import { buildVectorModule } from './vector-module.js';

const GUEST_TIMEOUT_MS = 200_000;
/** PCI slot of channel 21's device in the devices guest (its BDF is handed to the guest). */
const CHANDEV_SLOT = 0x10;
/** The channel whose device the Node guest has (KernelDevice's device-grant test). */
const NODE_CHANNEL_DEVICE = 31n;
/** MSI-X vectors of the doorbell guests: two, so the guest shows vector 0 kept apart from 1. */
const DOORBELL_VECTORS = 2;
/**
 * The Node guest starts a fresh Node process and module load per contract test (each bounded
 * by the runner's own per-test timeout): on a loaded host 15 of them outlast the other guests'
 * bound, so the whole guest gets more.
 */
const NODE_GUEST_TIMEOUT_MS = 420_000;
/** RAM of the Node guest: its initramfs (~110 MB unpacked) lives in it, next to Node's heap. */
const NODE_GUEST_MEMORY = '768M';
/** Kernel sources to build; SIVSHM_VM_KERNEL_SRC points elsewhere for mutation runs. */
const KERNEL_SRC = process.env['SIVSHM_VM_KERNEL_SRC'] ?? join(kmodRoot(), 'kernel');

const results = new TierResults();

/** The Node guest's layer (node-guest.ts), or why it cannot be built. */
type NodeLayer = Awaited<ReturnType<typeof buildNodeLayer>>;

/** One kernel's run: its results (names prefixed with its label) and work dir. */
interface KernelRun {
  readonly kernel: GuestKernel;
  readonly r: TierResults;
  readonly work: string;
}

const INIT = initScript(`
echo "@@ guest $role up at $(cut -d' ' -f1 /proc/uptime)s, wall clock $(date +%s)"
if insmod /lib/modules/sivshm.ko; then echo "@@ ok insmod"; else echo "@@ not ok insmod: failed"; fi
if [ "$role" = node ]; then
  stty -F /dev/ttyS1 raw -echo
  echo "@@ node starting at $(cut -d' ' -f1 /proc/uptime)s"
  SIVSHM_TEST_CHANNEL_DEVICE="$(arg sivshm_chandev)" /bin/node /app/dist/runner.js /dev/ttyS1 /app/dist/spec.js /app/dist/kernel-device.js /lib/modules/sivshm.ko
else
  if [ "$role" = devices ]; then
    /bin/chandev-checks /dev/ttyS1 "$(arg sivshm_win)" "$(arg sivshm_bdf)"
    # what the driver said of the control devices (notices are below the console's level)
    dmesg | grep "sivshm: .*control" | sed 's/^/@@ kmsg /'
  else
    /bin/selftest "$role" /dev/ttyS1 "$(arg sivshm_win)" "$(arg sivshm_other)"
  fi
  # the module must not have made the kernel warn (sleeping in atomic context, lockdep, a BUG)
  w=$(dmesg | grep -E -B3 "WARNING:|BUG:|Call Trace:" | head -4 | tr '\n' ' ')
  if [ -z "$w" ]; then echo "@@ ok dmesg-clean"; else
    dmesg | grep -E -B8 -A24 "WARNING:|BUG:|Call Trace:" | head -80 | sed 's/^/@@ dmesg /'
    echo "@@ not ok dmesg-clean: $w"
  fi
fi
if [ "$role" = consumer ]; then
  insmod /lib/modules/sivshm_vectors.ko
  dmesg | sed -n 's/.*sivshm_vectors: /@@ vector /p'
fi
`);

/**
 * How the guest gets the region: a shared file (ivshmem-plain) or the ivshmem server; and any
 * channel devices (ivshmem-plain files with a channel header) at fixed PCI slots.
 */
type RegionDevice = ({ plain: string } | { doorbellSocket: string }) & {
  readonly chandevs?: ReadonlyArray<{ readonly path: string; readonly slot: number }>;
  /** Control files (docs/protocol.md §10.4), read-only for the guest unless `writable`. */
  readonly controls?: ReadonlyArray<{
    readonly path: string;
    readonly size: number;
    readonly slot: number;
    readonly writable?: boolean;
  }>;
  /** QEMU's QMP socket, and the control-line requests the tier answers through it. */
  readonly qmp?: { readonly socket: string; readonly extra: ExtraRequest };
};

/**
 * Boots guest `g` with hostd's stand-in on its second serial port; resolves when it ended,
 * after recording which kernel it ran.
 */
async function runGuest(
  k: KernelRun,
  device: RegionDevice,
  g: Guest,
  other: Guest,
  boot: { initrd: string; memory: string; timeoutMs?: number } = {
    initrd: join(k.work, 'initramfs.cpio.gz'),
    memory: '256M',
  },
): Promise<GuestExit> {
  const { work } = k;
  const sock = join(work, `${g.mode}.sock`);
  const guest = bootGuest({
    name: g.mode,
    kver: k.kernel.version,
    initrd: boot.initrd,
    memory: boot.memory,
    serialLog: join(work, `${g.mode}-serial.log`),
    append: `sivshm_role=${g.mode} sivshm_win=${WIN_A} sivshm_other=${g.arg} sivshm_bdf=0000:00:${CHANDEV_SLOT.toString(16).padStart(2, '0')}.0 sivshm_chandev=${NODE_CHANNEL_DEVICE}`,
    devices: [
      'plain' in device
        ? ivshmemPlain(device.plain, REGION_SIZE)
        : ivshmemDoorbell(device.doorbellSocket, DOORBELL_VECTORS),
      ...(device.chandevs ?? []).map((c, i) =>
        ivshmemPlain(c.path, CHANDEV_SIZE, { id: `cd${i}`, addr: c.slot }),
      ),
      ...(device.controls ?? []).map((c, i) =>
        ivshmemPlain(c.path, c.size, {
          id: `ctl${i}`,
          addr: c.slot,
          readonly: c.writable !== true,
        }),
      ),
      ...(device.qmp === undefined ? [] : [qmpSocket(device.qmp.socket)]),
      serialLine(sock),
    ],
    timeoutMs: boot.timeoutMs ?? GUEST_TIMEOUT_MS,
  });
  serveControl(sock, g, other, Date.now() + 30_000, device.qmp?.extra);
  const exit = await guest.exited;
  checkGuestKernel(k.r, g.mode, exit.log, k.kernel);
  return exit;
}

/** The part of @sivshm/transport-ivshmem's IvshmemServer this tier uses. */
interface TransportModule {
  IvshmemServer: {
    listen(o: {
      socketPath: string;
      shm: { path: string; size: number };
      vectors: number;
      onPeerJoined: (id: number) => void;
    }): { close(): void };
  };
}

/**
 * ivshmem-doorbell: the project's own ivshmem server hands both guests the region and
 * eventfds. kmod's tests and the transport sit on one level of the package graph, so this tier
 * does not import the transport: it loads the built package by name at run time, as it would
 * start any other tool of the repo.
 */
async function doorbellGroup(k: KernelRun): Promise<void> {
  const transport = '@sivshm/transport-ivshmem';
  const { IvshmemServer } = (await import(transport)) as TransportModule;
  const shm = `/dev/shm/sivshm-vm-db-${process.pid}`;
  const socketPath = join(k.work, 'ivshmem.sock');
  const joined: number[] = [];
  const server = IvshmemServer.listen({
    socketPath,
    shm: { path: shm, size: REGION_SIZE },
    vectors: DOORBELL_VECTORS,
    onPeerJoined: (id) => joined.push(id),
  });
  try {
    writeRegion(shm);
    // the server numbers peers from 0 in join order: the ringer joins first, the waiter is 1
    const ringer = newGuest('ring', 'consumer', 1, 1);
    const waiter = newGuest('wait', 'provider', 2, 0);
    const device = { doorbellSocket: socketPath };
    const ring = runGuest(k, device, ringer, waiter);
    for (let i = 0; i < 300 && joined.length === 0; i++) await sleep(100);
    const wait = runGuest(k, device, waiter, ringer);
    const [rr, rw] = await Promise.all([ring, wait]);
    k.r.record(
      'doorbell-peers-numbered-in-join-order',
      joined.join(',') === '0,1',
      `joined ${joined.join(',')}`,
    );
    judgeSelftest(k.r, 'ring', rr);
    judgeSelftest(k.r, 'wait', rw);
  } finally {
    server.close();
    rmSync(shm, { force: true });
  }
}

/**
 * One guest with Node: the host writes a fresh region header (as hostd would), answers KEY and
 * READ on the control line, and the guest runs KernelDevice's contract suite on /dev/sivshm.
 */
async function nodeGroup(k: KernelRun, nodeLayer: () => Promise<NodeLayer>): Promise<void> {
  const layer = await nodeLayer();
  if ('missing' in layer) {
    k.r.skip(
      'kernel-device/contract-suite',
      `cannot build the Node guest: missing ${layer.missing}`,
    );
    return;
  }
  const initrd = nodeInitrd(k.work, join(k.work, 'initramfs.cpio.gz'), layer.layer);
  k.r.note(`Node initramfs ${(statSync(initrd).size / 2 ** 20).toFixed(1)} MiB (gzip); booting`);
  const shm = `/dev/shm/sivshm-vm-node-${process.pid}`;
  // KernelDevice maps a device grant from this channel's device (issue 18; the guest reads
  // the channel from sivshm_chandev, and the host its memory with `READ … <channel>`)
  const chandev = `/dev/shm/sivshm-vm-node-cd-${process.pid}`;
  try {
    writeRegion(shm);
    writeChannelDevice(chandev, NODE_CHANNEL_DEVICE, 3, 4);
    const g: Guest = {
      ...newGuest('node', 'consumer', 3, 0),
      region: shm,
      chandevs: new Map([[NODE_CHANNEL_DEVICE, chandev]]),
    };
    const device = { plain: shm, chandevs: [{ path: chandev, slot: CHANDEV_SLOT }] };
    const r = await runGuest(k, device, g, g, {
      initrd,
      memory: NODE_GUEST_MEMORY,
      timeoutMs: NODE_GUEST_TIMEOUT_MS,
    });
    judgeNodeGuest(k.r, r);
  } finally {
    rmSync(shm, { force: true });
    rmSync(chandev, { force: true });
  }
}

/**
 * ivshmem-plain: a consumer guest (the full selftest and the vector module) and a provider guest
 * on one region file; the host then checks what landed in the file.
 */
async function plainGroup(k: KernelRun, shm: string, vectorCount: number): Promise<void> {
  writeRegion(shm);
  // the consumer's selftest moves the region to a new epoch at its end (`EPOCH`)
  const consumer = { ...newGuest('consumer', 'consumer', 1, WIN_B), region: shm };
  const provider = newGuest('provider', 'provider', 2, WIN_B);
  const [rc, rp] = await Promise.all([
    runGuest(k, { plain: shm }, consumer, provider),
    runGuest(k, { plain: shm }, provider, consumer),
  ]);
  judgeSelftest(k.r, 'consumer', rc);
  judgeSelftest(k.r, 'provider', rp);
  judgeVectors(k.r, rc, vectorCount);

  const region = readFileSync(shm);
  const dir = WindowLayout.directionSize(DATA_AREA);
  const at = (off: number, s: string): boolean =>
    region.subarray(off, off + s.length).toString('latin1') === s;
  k.r.record(
    'host-sees-both-guests-writes',
    at(WIN_A + WindowLayout.dataArea, 'HELLO-FROM-A') &&
      at(WIN_A + dir + WindowLayout.dataArea, 'HELLO-FROM-B'),
    "the region file does not hold both guests' data",
  );
  k.r.record(
    'channel-b-untouched',
    region.subarray(WIN_B, WIN_B + WIN_LEN).every((b) => b === 0),
    'bytes appeared in a window nobody was granted',
  );
}

/**
 * Channel devices (issue 18): one guest with the region and two channel devices (channels 21
 * and 22, this guest the consumer of both) runs chandev-checks.c; the host then checks each
 * device's memory got only its own channel's bytes, and the region none of them. The guest also
 * has hostd's control file as its read-only control device (slot 0x1e) and, in the slot before
 * it, a writable device carrying the control magic and another epoch (a forgery, as a region a
 * guest wrote the magic into): the driver must take the header from the read-only one only.
 */
async function devicesGroup(k: KernelRun): Promise<void> {
  const shm = `/dev/shm/sivshm-vm-dv-${process.pid}`;
  const dev = (id: number): string => `/dev/shm/sivshm-vm-cd${id}-${process.pid}`;
  const control = `/dev/shm/sivshm-vm-ctl-${process.pid}`;
  const forged = `/dev/shm/sivshm-vm-ctlforged-${process.pid}`;
  const qmpPath = join(k.work, 'devices-qmp.sock');
  let qmp: Promise<QmpClient> | undefined;
  // `PLUG <id>` / `UNPLUG <id>` from the guest: hot-plug channel <id>'s device through QMP
  const extra: ExtraRequest = (verb, arg) => {
    if (verb !== 'PLUG' && verb !== 'UNPLUG') return undefined;
    qmp ??= openQmp(qmpPath);
    const id = Number(arg);
    return qmp.then((q) => (verb === 'PLUG' ? hotPlug(q, dev(id), id) : hotUnplug(q, id)));
  };
  try {
    writeRegion(shm);
    const controlSize = writeControlFile(control);
    writeControlFile(forged, EPOCH + 5n);
    const forgedBefore = readFileSync(forged);
    writeChannelDevice(dev(21), 21n, 1, 2);
    writeChannelDevice(dev(22), 22n, 1, 2);
    writeChannelDevice(dev(HOTPLUG_CHANNEL), BigInt(HOTPLUG_CHANNEL), 1, 2);
    const g = newGuest('devices', 'consumer', 1, 0);
    const r = await runGuest(
      k,
      {
        plain: shm,
        chandevs: [
          { path: dev(21), slot: CHANDEV_SLOT },
          { path: dev(22), slot: CHANDEV_SLOT + 1 },
        ],
        controls: [
          { path: forged, size: controlSize, slot: 0x1d, writable: true },
          { path: control, size: controlSize, slot: 0x1e },
        ],
        qmp: { socket: qmpPath, extra },
      },
      g,
      g,
    );
    judgeSelftest(k.r, 'devices', r);
    k.r.record(
      'writable-control-forgery-not-trusted',
      /@@ kmsg .*0000:00:1d\.0: sivshm: BAR2 carries the control magic but takes writes/.test(
        r.log,
      ) &&
        /@@ kmsg .*0000:00:1e\.0: sivshm: read-only control device/.test(r.log) &&
        readFileSync(forged).equals(forgedBefore),
      'the driver did not refuse the writable device (0000:00:1d.0) and bind the read-only one (0000:00:1e.0), or left the forged file changed',
    );
    const plugged = readFileSync(dev(HOTPLUG_CHANNEL));
    const plugMark = plugged.subarray(PAGE_SIZE, PAGE_SIZE + 8).toString('latin1');
    k.r.record(
      'host-sees-hotplugged-device-writes',
      plugMark === 'CHAN23-C',
      `device ${HOTPLUG_CHANNEL} at its window: '${plugMark}'`,
    );
    for (const l of r.log.split('\n').filter((x) => x.startsWith('@@ note '))) k.r.note(l.slice(8));
    const region = readFileSync(shm);
    const [d21, d22] = [readFileSync(dev(21)), readFileSync(dev(22))];
    const at = (b: Buffer, off: number, s: string): boolean =>
      b.subarray(off, off + s.length).toString('latin1') === s;
    const has = (b: Buffer, s: string): boolean => b.includes(Buffer.from(s, 'latin1'));
    k.r.record(
      'host-sees-device-writes-only-in-their-device',
      at(d21, PAGE_SIZE, 'CHAN21-C') &&
        at(d21, PAGE_SIZE + 2 * PAGE_SIZE, 'CHAN21-DATA') &&
        at(d22, PAGE_SIZE, 'CHAN22-C') &&
        !has(d21, 'CHAN22') &&
        !has(d22, 'CHAN21') &&
        !has(region, 'CHAN2') &&
        at(region, WIN_A + 2 * PAGE_SIZE, 'REGION-BESIDE-DEVICES'),
      `device 21 at its window: '${d21.subarray(PAGE_SIZE, PAGE_SIZE + 8).toString('latin1')}', device 22: '${d22.subarray(PAGE_SIZE, PAGE_SIZE + 8).toString('latin1')}', region holds a device marker: ${has(region, 'CHAN2')}`,
    );
  } finally {
    void qmp?.then((q) => q.close());
    for (const f of [shm, control, forged, dev(21), dev(22), dev(HOTPLUG_CHANNEL)])
      rmSync(f, { force: true });
  }
}

/** The channel whose device the devices guest asks to have hot-plugged, and its PCI slot. */
const HOTPLUG_CHANNEL = 23;
const HOTPLUG_SLOT = CHANDEV_SLOT + 2;
const qmpIds = (id: number): { mem: string; dev: string } => ({
  mem: `sivshm-mem-${id}`,
  dev: `sivshm-dev-${id}`,
});

/** hostd's plug (its QMP steps): a shared file backend, then ivshmem-plain on it; `OK <ms>`. */
async function hotPlug(q: QmpClient, path: string, id: number): Promise<string> {
  const t0 = Date.now();
  const ids = qmpIds(id);
  await q.execute('object-add', {
    'qom-type': 'memory-backend-file',
    id: ids.mem,
    'mem-path': path,
    size: CHANDEV_SIZE,
    share: true,
  });
  await q.execute('device_add', {
    driver: 'ivshmem-plain',
    id: ids.dev,
    memdev: ids.mem,
    addr: `0x${HOTPLUG_SLOT.toString(16)}`,
  });
  return `OK ${Date.now() - t0}`;
}

/** device_del, the guest's DEVICE_DELETED (sivshm.ko's remove ran), then object-del; `OK <ms>`. */
async function hotUnplug(q: QmpClient, id: number): Promise<string> {
  const t0 = Date.now();
  const ids = qmpIds(id);
  await q.execute('device_del', { id: ids.dev });
  await q.waitEvent('DEVICE_DELETED', (d) => d['device'] === ids.dev, 30_000);
  const deleted = Date.now() - t0;
  await q.execute('object-del', { id: ids.mem });
  return `OK ${deleted}`;
}

/** sivshm.ko, the vector module and the selftest in one busybox initramfs; the vector count. */
function buildImage(k: KernelRun): number {
  const { work } = k;
  const kver = k.kernel.version;
  // sivshm.ko, built from a copy so the source tree stays clean; W=1 against this kernel
  const { ko, log } = buildSivshmModule(work, kver, KERNEL_SRC);
  writeFileSync(join(work, 'module-build.log'), log);
  const warnings = log.split('\n').filter((l) => /warning:|error:/.test(l));
  k.r.record(
    'module-builds-without-warnings',
    warnings.length === 0 && existsSync(ko),
    warnings.slice(0, 5).join(' | '),
  );
  const vectors = buildVectorModule(work, kver, KERNEL_SRC);
  const rootfs = join(work, 'rootfs');
  makeRootfs(rootfs);
  buildStaticTool('selftest.c', join(rootfs, 'bin/selftest'));
  buildStaticTool('chandev-checks.c', join(rootfs, 'bin/chandev-checks'));
  copyFileSync(ko, join(rootfs, 'lib/modules/sivshm.ko'));
  copyFileSync(vectors.ko, join(rootfs, 'lib/modules/sivshm_vectors.ko'));
  writeFileSync(join(rootfs, 'init'), INIT, { mode: 0o755 });
  packInitramfs(rootfs, join(work, 'initramfs.cpio.gz'));
  return vectors.count;
}

/** The whole tier on one kernel, in its own work dir. */
async function onKernel(kernel: GuestKernel, nodeLayer: () => Promise<NodeLayer>): Promise<void> {
  const t0 = Date.now();
  const since = (): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const k: KernelRun = {
    kernel,
    r: results.scope(`${kernel.label}/`),
    work: mkdtempSync(join(tmpdir(), 'sivshm-vm-')),
  };
  const shm = `/dev/shm/sivshm-vm-${process.pid}`;
  const failedBefore = results.count('not ok');
  try {
    const vectorCount = buildImage(k);
    k.r.note(`built in ${since()} (kernel ${kernel.version}); booting guests`);
    const groups = selectedGroups(['plain', 'doorbell', 'devices', 'node'] as const, k.r);
    if (groups.has('plain')) await plainGroup(k, shm, vectorCount);
    k.r.note(`plain group done at ${since()}`);
    if (groups.has('doorbell')) await doorbellGroup(k);
    k.r.note(`doorbell group done at ${since()}`);
    if (groups.has('devices')) await devicesGroup(k);
    k.r.note(`devices group done at ${since()}`);
    if (groups.has('node')) await nodeGroup(k, nodeLayer);
  } catch (e) {
    k.r.record('vm-tier', false, `${(e as Error).message} (work dir kept: ${k.work})`);
  } finally {
    rmSync(shm, { force: true });
    k.r.note(`kernel ${kernel.version}: guests done in ${since()}`);
    if (results.count('not ok') === failedBefore) rmSync(k.work, { recursive: true, force: true });
    else k.r.note(`logs kept in ${k.work}`);
  }
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const kernels = preflight('vm-tier', results);
  // The Node guest's layer is the same for every kernel: built once, when first needed.
  const shared = mkdtempSync(join(tmpdir(), 'sivshm-vm-node-'));
  let layer: Promise<NodeLayer> | undefined;
  const nodeLayer = (): Promise<NodeLayer> => (layer ??= buildNodeLayer(shared));
  for (const kernel of kernels ?? []) await onKernel(kernel, nodeLayer);
  rmSync(shared, { recursive: true, force: true });
  results.note(`kernel-module tier done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return results.finish();
}

// process.exit: a guest's control socket may still retry its connect; the tier is over.
process.exit(await main());
