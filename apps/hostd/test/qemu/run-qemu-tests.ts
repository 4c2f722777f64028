/**
 * Tier 3: hostd on the host, apps inside QEMU guests — part of `npm run test:vm`, on
 * @sivshm/testing's QEMU harness.
 *
 * Builds one guest image (app-image.ts), starts `sivshm-hostd --qemu` on a test deployment,
 * and boots two TCG guests the way a launcher would: the control link is a `virtserialport`
 * named `org.sivshm.control` whose chardev connects to `<runDir>/<vm>.sock`, doorbells and the
 * region come from hostd's ivshmem server through `ivshmem-doorbell`, hostd's control file
 * (header and channel table) through a read-only `ivshmem-plain`, and the VM's grant key
 * and id arrive by fw_cfg. The provider guest offers VehicleSpeed, the consumer guest finds it,
 * and the host follows both serial logs as they grow. That plain channel and an aead one then
 * carry a known marker while the host scans the region file and the consumer guest's root scans
 * its BAR (marker-scan.ts). Prints `ok <name>` / `not ok
 * <name>: reason` per check and `N passed, N failed, N skipped`; exits non-zero on failure.
 * Logs are kept in the work dir when something failed.
 *
 * All of it runs once per kernel the harness chose (`SIVSHM_VM_KERNELS`, see @sivshm/testing's
 * kernels.ts), each on a fresh deployment and hostd; every check's name starts with the
 * kernel's series (`6.12/consumer/method-call-round-trip`).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  makeDeployment,
  runCliStatus,
  sleep,
  startHostd,
  waitForFiles,
  type Deployment,
  type HostdProcess,
  type StatusLike,
} from '@sivshm/testing';
import {
  bootGuest,
  checkGuestKernel,
  fwCfg,
  controlDevice,
  ivshmemDoorbell,
  preflight,
  selectedGroups,
  TierResults,
  virtioSerialPort,
  type GuestKernel,
  type QemuGuest,
} from '@sivshm/testing/qemu';
import { controlPathFor } from '@sivshm/transport-ivshmem';
import { buildAppImage, buildAppLayer } from './app-image.js';
import { BURST } from './guest-app.js';
import { MARKER_CHANNELS } from './guest-markers.js';
import { lastStep, steps, waitStep, type Step } from './guest-steps.js';
import { markerScan } from './marker-scan.js';
import { isolationOnKernel } from './isolation-tier.js';
import { judgeReceiptChecks, type QuarantineStatus } from './receipt-checks.js';

/** Guest RAM: its initramfs (~110 MB unpacked with Node) lives in it, next to Node's heap. */
const GUEST_MEMORY = '768M';
/** Boot, Node start and Node.open under TCG on a shared 2-core machine. */
const OPEN_TIMEOUT_MS = 150_000;
/**
 * The consumer guest runs three apps before the real consumer (one crashing, two hostile ones
 * of the receipt checks), each starting Node and making a handshake.
 */
const CONSUMER_OPEN_TIMEOUT_MS = OPEN_TIMEOUT_MS + 150_000;
const STEP_TIMEOUT_MS = 90_000;
const PEER_GONE_TIMEOUT_MS = 30_000;
const GUEST_EXIT_TIMEOUT_MS = 30_000;

const root = new TierResults();
/** The current kernel's view of the results (its names prefixed with the kernel's label). */
let results = root;

/** The two VMs: infotainment provides VehicleSpeed, cluster consumes it. */
const VMS = [
  { role: 'provider', vm: 'infotainment', vmId: 1 },
  { role: 'consumer', vm: 'cluster', vmId: 2 },
] as const;

/** Boots one VM's guest as a launcher would (see the header). */
function bootVm(d: Deployment, kver: string, image: string, v: (typeof VMS)[number]): QemuGuest {
  return bootGuest({
    name: v.role,
    kver,
    initrd: image,
    memory: GUEST_MEMORY,
    serialLog: join(d.dir, `${v.role}-serial.log`),
    append: `sivshm_role=${v.role}`,
    devices: [
      // the region and the doorbells: hostd's ivshmem server hands QEMU the region fd
      ivshmemDoorbell(join(d.runDir, 'ivshmem.sock'), 2),
      // hostd's header and channel table, read-only for the guest (docs/protocol.md §10.4)
      controlDevice(controlPathFor(d.regionPath), statSync(controlPathFor(d.regionPath)).size),
      // the control link: QEMU connects to hostd's per-VM socket (hostd listens)
      virtioSerialPort(d.socket(v.vm), 'org.sivshm.control'),
      // the VM's grant key and id, for the init step only
      fwCfg('opt/sivshm/key', { file: d.keyFile(v.vm) }),
      fwCfg('opt/sivshm/vm-id', { string: String(v.vmId) }),
    ],
  });
}

/** `sivshm status --json`, as an operator would run it. */
async function status(d: Deployment): Promise<StatusLike> {
  return JSON.parse(await runCliStatus(d, ['--json'])) as StatusLike;
}

const shown = (r: Step | string): string => (typeof r === 'string' ? r : JSON.stringify(r));

/** 1. The control link over virtio-serial: hello → attach → enrol, for both guests. */
async function attached(provider: QemuGuest, consumer: QemuGuest): Promise<boolean> {
  const tBoot = Date.now();
  const [po, co] = await Promise.all([
    waitStep(provider, 'offered', OPEN_TIMEOUT_MS),
    waitStep(consumer, 'open', CONSUMER_OPEN_TIMEOUT_MS),
  ]);
  for (const [g, r] of [
    [provider, po],
    [consumer, co],
  ] as const) {
    const log = g.console();
    results.record(
      `${g.name}/key-provisioned-from-fw-cfg`,
      /@@ ok provision-key vm \d/.test(log),
      `${/@@ not ok provision-key[^\n]*/.exec(log)?.[0] ?? 'no report'} ${g.tail()}`,
    );
    results.record(
      `${g.name}/node-open-over-virtio-serial`,
      typeof r !== 'string',
      typeof r === 'string' ? r : '',
    );
  }
  const open = lastStep(consumer, 'open');
  if (open !== undefined)
    results.note(
      `guests booted and attached: consumer Node.open ${String(open['ms'])} ms, ${((Date.now() - tBoot) / 1000).toFixed(1)} s after boot`,
    );
  return typeof po !== 'string' && typeof co !== 'string';
}

/** 2. Discovery and the handshake through hostd (after the crashing app's, see the image). */
async function handshake(consumer: QemuGuest, hostd: HostdProcess): Promise<boolean> {
  const consumed = await waitStep(consumer, 'consumed', STEP_TIMEOUT_MS);
  const crashed = lastStep(consumer, 'crash-consumed');
  const startedOver = hostd.text().includes('the VM started over');
  results.record(
    'consumer/restarted-app-starts-clean-on-the-same-port',
    crashed !== undefined &&
      crashed['status'] === 'connected' &&
      typeof consumed !== 'string' &&
      consumed['channelId'] !== crashed['channelId'] &&
      startedOver,
    `crashing app ${JSON.stringify(crashed)}, next app ${shown(consumed)}, hostd logged the start-over: ${startedOver}`,
  );
  const ok = results.record(
    'consumer/discovers-provider-and-handshake-completes',
    typeof consumed !== 'string' &&
      consumed['status'] === 'connected' &&
      typeof consumed['handshakeMs'] === 'number',
    shown(consumed),
  );
  if (!ok || typeof consumed === 'string') return false;
  results.note(
    `handshake ${Number(consumed['handshakeMs']).toFixed(1)} ms (M1 sent → grant verified, in the guest); find + handshake ${String(consumed['findMs'])} ms`,
  );
  return true;
}

/** 3. Events and a method call. */
async function eventsAndCalls(consumer: QemuGuest): Promise<void> {
  const ev = await waitStep(consumer, 'events', STEP_TIMEOUT_MS);
  results.record(
    'consumer/events-arrive-in-order-and-intact',
    typeof ev !== 'string' && ev['received'] === BURST && ev['firstBad'] === null,
    shown(ev),
  );
  const calls = await waitStep(consumer, 'calls', STEP_TIMEOUT_MS);
  results.record(
    'consumer/method-call-round-trip',
    typeof calls !== 'string' && Number(calls['ok']) >= 2 && calls['error'] === null,
    shown(calls),
  );
  if (typeof calls !== 'string')
    results.note(
      `method round trip p50 ${Number(calls['p50Ms']).toFixed(2)} ms, max ${Number(calls['maxMs']).toFixed(2)} ms (${String(calls['ok'])} calls, TCG guests)`,
    );
}

type Channel = StatusLike['channels'][number];

/** 4. The grant, as the kernel enforces it; returns hostd's view of the channel. */
async function grantEnforced(d: Deployment, consumer: QemuGuest): Promise<Channel | undefined> {
  const grant = await waitStep(consumer, 'grant', STEP_TIMEOUT_MS);
  const st = await status(d);
  const channel = st.channels.find(
    (c) => c.consumerVm === 2 && c.providerVm === 1 && c.state === 'ACTIVE',
  );
  if (typeof grant === 'string' || channel === undefined) {
    results.record(
      'consumer/mapping-only-its-window',
      false,
      typeof grant === 'string'
        ? grant
        : `hostd shows no active channel: ${JSON.stringify(st.channels)}`,
    );
  } else {
    const maps = grant['maps'] as Array<{ offset: number; length: number }>;
    const w = channel.window;
    results.record(
      'consumer/mapping-only-its-window',
      maps.length > 0 &&
        maps.every((m) => m.offset >= w.offset && m.offset + m.length <= w.offset + w.length),
      `device mappings ${JSON.stringify(maps)}, granted window ${JSON.stringify(w)}`,
    );
    results.record(
      'consumer/ungranted-file-maps-nothing',
      grant['header'] === 'EPERM' &&
        grant['window'] === 'EPERM' &&
        grant['afterWindow'] === 'EPERM',
      `header ${String(grant['header'])}, own window on an ungranted file ${String(grant['window'])}, after the window ${String(grant['afterWindow'])}`,
    );
    results.record(
      'consumer/app-cannot-read-the-key',
      grant['uid'] === 1000 && grant['keyRead'] === 'EACCES',
      `uid ${String(grant['uid'])}, reading fw_cfg key: ${String(grant['keyRead'])}`,
    );
    results.record(
      'consumer/doorbells-delivered-by-the-device',
      Number(grant['doorbells']) > 0,
      `the consumer counted ${String(grant['doorbells'])} doorbell interrupts (notify: event)`,
    );
    results.note(`consumer received ${String(grant['doorbells'])} doorbells through sivshm.ko`);
  }
  const vms = st.vms
    .filter((v) => v.connected && v.enrolled)
    .map((v) => v.name)
    .sort();
  results.record(
    'hostd-status-shows-both-vms',
    vms.join(',') === 'cluster,infotainment',
    `status --json: ${JSON.stringify(st.vms)}`,
  );
  const ids = st.vms.map((v) => v.doorbellId);
  results.record(
    'hostd-learned-both-doorbell-ids',
    ids.every((i) => typeof i === 'number') && ids[0] !== ids[1],
    `doorbell ids ${JSON.stringify(ids)}`,
  );
  return channel;
}

/** The provider's doorbells: it reports every 5 s, so take a report made after the calls. */
async function providerDoorbells(provider: QemuGuest): Promise<void> {
  const aliveCount = (): number => steps(provider).filter((s) => s.step === 'alive').length;
  const aliveBefore = aliveCount();
  for (let i = 0; i < 40 && aliveCount() <= aliveBefore; i++) await sleep(250);
  const pAlive = lastStep(provider, 'alive');
  results.record(
    'provider/doorbells-delivered-by-the-device',
    Number(pAlive?.['doorbells']) > 0,
    `the provider's last report: ${JSON.stringify(pAlive)} ${provider.tail()}`,
  );
}

/** 5. Teardown: kill the provider's QEMU; the consumer and hostd must notice and clean up. */
async function providerKilled(
  d: Deployment,
  provider: QemuGuest,
  consumer: QemuGuest,
  channel: Channel | undefined,
): Promise<void> {
  const steady = await waitStep(consumer, 'steady', STEP_TIMEOUT_MS);
  if (typeof steady === 'string') {
    results.record('consumer/peer-gone-when-provider-killed', false, steady);
    return;
  }
  provider.kill();
  await provider.exited;
  const gone = await waitStep(consumer, 'peer-gone', PEER_GONE_TIMEOUT_MS);
  results.record(
    'consumer/peer-gone-when-provider-killed',
    typeof gone !== 'string' && Number(gone['afterMs']) >= 0,
    shown(gone),
  );
  const freed = (s: StatusLike | undefined): boolean =>
    channel !== undefined &&
    s !== undefined &&
    !s.channels.some((c) => c.channelId === channel.channelId) &&
    s.region.allocatedBytes === 0;
  let after: StatusLike | undefined;
  for (const end = Date.now() + 15_000; Date.now() < end && !freed(after);) {
    after = await status(d);
    if (!freed(after)) await sleep(250);
  }
  results.record(
    'hostd-frees-the-channel',
    freed(after),
    `channels ${JSON.stringify(after?.channels)}, allocated ${after?.region.allocatedBytes}, quarantined ${after?.region.quarantinedBytes}`,
  );
  results.record(
    'hostd-sees-provider-gone',
    after?.vms.find((v) => v.id === 1)?.connected === false,
    JSON.stringify(after?.vms),
  );
  const closed = await waitStep(consumer, 'closed', GUEST_EXIT_TIMEOUT_MS);
  const code = await Promise.race([
    consumer.exited.then((e) => e.code),
    sleep(GUEST_EXIT_TIMEOUT_MS).then(() => 'timeout'),
  ]);
  results.record(
    'consumer/closes-and-powers-off',
    typeof closed !== 'string' && code === 0 && consumer.console().includes('@@ DONE'),
    `${typeof closed === 'string' ? closed : ''} qemu exit ${String(code)} ${consumer.tail()}`,
  );
}

/** hostd in --qemu mode on `d`, its sockets up; undefined (recorded) when it did not start. */
async function startQemuHostd(d: Deployment): Promise<HostdProcess | undefined> {
  let hostd: HostdProcess;
  try {
    hostd = await startHostd(d, ['--qemu'], { timeoutMs: 20_000 });
  } catch (e) {
    results.record('hostd-qemu-mode-started', false, (e as Error).message.slice(-1500));
    return undefined;
  }
  const missing = await waitForFiles(
    ['infotainment', 'cluster', 'ivshmem', 'status'].map((s) => join(d.runDir, `${s}.sock`)),
    20_000,
  );
  results.record(
    'hostd-qemu-mode-started',
    missing.length === 0,
    `no ${missing.join(', ')}; hostd said: ${hostd.text().slice(-1500)}`,
  );
  return hostd;
}

async function scenario(d: Deployment, kernel: GuestKernel, appLayer: string): Promise<void> {
  const t0 = Date.now();
  const kver = kernel.version;
  const image = buildAppImage(d.dir, kver, join(d.dir, 'config'), appLayer);
  results.note(
    `image ${(statSync(image).size / 2 ** 20).toFixed(1)} MiB (gzip) built in ${((Date.now() - t0) / 1000).toFixed(1)} s (kernel ${kver})`,
  );
  const hostd = await startQemuHostd(d);
  if (hostd === undefined) return;
  const guests: QemuGuest[] = [];
  try {
    const [provider, consumer] = VMS.map((v) => bootVm(d, kver, image, v)) as [
      QemuGuest,
      QemuGuest,
    ];
    guests.push(provider, consumer);
    const up = await attached(provider, consumer);
    for (const g of guests) checkGuestKernel(results, g.name, g.console(), kernel);
    if (!up) return;
    if (!(await handshake(consumer, hostd))) return;
    await eventsAndCalls(consumer);
    const channel = await grantEnforced(d, consumer);
    await markerScan(results, d.regionPath, consumer, () => status(d), STEP_TIMEOUT_MS);
    const st = (await status(d)) as unknown as QuarantineStatus;
    judgeReceiptChecks(results, d, hostd, consumer, st);
    await providerDoorbells(provider);
    await providerKilled(d, provider, consumer, channel);
  } finally {
    for (const g of guests) g.kill();
    await Promise.all(guests.map((g) => g.exited));
    const code = await hostd.stop(10_000);
    const log = join(d.dir, 'hostd.log');
    writeFileSync(log, hostd.text());
    results.record('hostd-stops-cleanly', code === 0, `exit ${String(code)}; log ${log}`);
  }
}

/** The tier on one kernel: a fresh deployment, hostd and pair of guests. */
async function onKernel(kernel: GuestKernel, appLayer: string): Promise<void> {
  const t0 = Date.now();
  results = root.scope(`${kernel.label}/`);
  const failedBefore = root.count('not ok');
  const d = makeDeployment({
    label: 'qemu',
    vms: VMS.map((v) => ({ id: v.vmId, name: v.vm })),
    // instance 1: the main scenario (and the plain marker); 2: the aead marker channel
    services: [
      {
        name: 'VehicleSpeed',
        instances: [...new Set([1, ...MARKER_CHANNELS.map((c) => c.instance)])],
      },
    ],
    channelCapacity: 16,
    grantKeys: 'file',
  });
  try {
    await scenario(d, kernel, appLayer);
  } catch (e) {
    results.record('qemu-tier', false, `${(e as Error).stack ?? String(e)} (work dir: ${d.dir})`);
  } finally {
    results.note(`kernel ${kernel.version}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (root.count('not ok') > failedBefore) results.note(`logs kept in ${d.dir}`);
    else d.cleanup();
  }
}

/** The groups: `qemu` (two guests, the scenario above), `isolation` (three, isolation-tier.ts). */
const GROUPS = ['qemu', 'isolation'] as const;

async function main(groups: ReadonlySet<(typeof GROUPS)[number]>): Promise<void> {
  const t0 = Date.now();
  const kernels = preflight('qemu-tier', root);
  if (kernels === undefined) return;
  // Node and the app bundle: the same for every kernel, so built once
  const shared = mkdtempSync(join(tmpdir(), 'sivshm-qemu-app-'));
  try {
    const appLayer = await buildAppLayer(shared);
    root.note(`app layer built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const kernel of kernels) {
      if (groups.has('qemu')) await onKernel(kernel, appLayer);
      if (groups.has('isolation'))
        await isolationOnKernel(root.scope(`${kernel.label}/`), kernel, appLayer);
    }
  } catch (e) {
    root.record('qemu-tier', false, `${(e as Error).stack ?? String(e)}`);
  } finally {
    rmSync(shared, { recursive: true, force: true });
  }
  root.note(`tier 3 done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

const groups = selectedGroups(GROUPS, root);
if (groups.size > 0) await main(groups);
process.exitCode = root.finish();
