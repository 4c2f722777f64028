/**
 * Tier 3 (ARCHITECTURE.md §9): hostd on the host, apps inside QEMU guests — part of
 * `npm run test:vm`.
 *
 * Builds one guest image (busybox initramfs with sivshm.ko, the Debian kernel's virtio-serial
 * and fw_cfg modules, the `provision-key` init step, and Node with a bundle of
 * `apps/hostd/test/qemu/guest-app.ts` + `@sivshm/runtime`), starts `sivshm-hostd --qemu` with a
 * temp run dir and region, and boots two TCG guests the way a launcher would: the control link
 * is a `virtserialport` named `org.sivshm.control` whose chardev connects to
 * `<runDir>/<vm>.sock`, doorbells and the region come from hostd's ivshmem server through
 * `ivshmem-doorbell`, and the VM's grant key and id arrive by fw_cfg. The provider guest offers
 * VehicleSpeed, the consumer guest finds it, and the host follows both serial logs as they
 * grow. Prints `ok <name>` / `not ok <name>: reason` per check and `N passed, N failed, N
 * skipped`; exits non-zero on failure. Logs are kept in the work dir when something failed.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Guest RAM: its initramfs (~110 MB unpacked with Node) lives in it, next to Node's heap. */
const GUEST_MEMORY = '768M';
const REGION_SIZE = '4MiB';
/** Boot, Node start and Node.open under TCG on a shared 2-core machine. */
const OPEN_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 90_000;
const PEER_GONE_TIMEOUT_MS = 30_000;
const GUEST_EXIT_TIMEOUT_MS = 30_000;
/** Must match guest-app.ts. */
const BURST = 300;

/** The hostd package root (apps/hostd): the nearest folder above this file with package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return dir;
}

const HOSTD = packageRoot();
const REPO = join(HOSTD, '..', '..');
const KMOD = join(REPO, 'packages', 'kmod');
const TRANSPORT = join(REPO, 'packages', 'transport-ivshmem');

const results: Array<{ name: string; status: 'ok' | 'not ok' | 'skip' }> = [];
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
function record(name: string, ok: boolean, reason = ''): boolean {
  results.push({ name, status: ok ? 'ok' : 'not ok' });
  out(ok ? `ok ${name}` : `not ok ${name}: ${reason}`);
  return ok;
}
function skip(name: string, reason: string): void {
  results.push({ name, status: 'skip' });
  out(`skip ${name}: ${reason}`);
}

/** The part of packages/kmod/test/vm/guest-image.ts this runner uses (loaded from its build). */
interface GuestImage {
  missingTools(): string[];
  pickKernel(): string | undefined;
  buildSivshmModule(work: string, kver: string): { ko: string; log: string };
  buildStaticTool(source: string, out: string): void;
  kernelModules(kver: string, names: readonly string[]): string[];
  addNodeRuntime(layer: string, extraElves?: readonly string[]): void;
  packInitramfs(dir: string, out: string, prepend?: readonly string[]): void;
}

/** The part of esbuild this runner uses (a dev dependency of the repo, resolved at run time). */
interface EsbuildLike {
  build(o: {
    stdin: { contents: string; resolveDir: string; sourcefile: string };
    bundle: boolean;
    format: 'esm';
    platform: 'node';
    target: string;
    outfile: string;
    banner: { js: string };
    logLevel: 'error';
  }): Promise<unknown>;
}

// ---- the image

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
role=$(sed -n 's/.*sivshm_role=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
echo "@@ guest $role up at $(cut -d' ' -f1 /proc/uptime)s"
for m in $(cat /lib/modules/load-order); do insmod "/lib/modules/$m" || echo "@@ not ok insmod $m"; done
if insmod /lib/modules/sivshm.ko; then echo "@@ ok insmod"; else echo "@@ not ok insmod: failed"; fi
/bin/provision-key
# The app runs unprivileged: it gets its control port, never the key (fw_cfg files are 0400).
for n in /sys/class/virtio-ports/*/name; do
  [ "$(cat "$n")" = org.sivshm.control ] && chown 1000:1000 "/dev/$(basename "$(dirname "$n")")"
done
chmod 1777 /tmp
echo 'root:x:0:0::/:/bin/sh' > /etc/passwd
echo 'app:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd
printf 'root:x:0:\napp:x:1000:\n' > /etc/group
echo "@@ app starting at $(cut -d' ' -f1 /proc/uptime)s"
if [ "$role" = consumer ]; then
  # An app that dies on a live link first: the next one must start clean on the same port.
  su -s /bin/sh app -c "/bin/node /app/dist/guest.js crashing-consumer /app/services.yaml"
  echo "@@ crashing app exited at $(cut -d' ' -f1 /proc/uptime)s"
fi
su -s /bin/sh app -c "/bin/node /app/dist/guest.js $role /app/services.yaml"
echo "@@ DONE at $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
`;

function servicesYaml(regionPath: string, keys: { provider: string; consumer: string }): string {
  return `version: 1
region:
  size: ${REGION_SIZE}
  path: ${regionPath}
  channelCapacity: 16
vms:
  - id: 1
    name: infotainment
    grantKey: { file: ${keys.provider} }
  - id: 2
    name: cluster
    grantKey: { file: ${keys.consumer} }
protos: [proto/vehicle.proto]
services:
  - name: VehicleSpeed
    id: 0x1234
    instances: [1]
    major: 1
    minor: 0
    provider: infotainment
    consumers: [cluster]
    minMode: plain
    eventgroups:
      - id: 1
        name: speed
        events:
          - { id: 0x8001, name: speed, type: sivshm.demo.VehicleSpeed }
    methods:
      - id: 0x0001
        name: reset
        request: sivshm.demo.ResetRequest
        response: sivshm.demo.ResetResponse
`;
}

/** Builds the guest initramfs; returns its path. */
async function buildImage(
  gi: GuestImage,
  work: string,
  kver: string,
  guestConfig: string,
): Promise<string> {
  const { ko, log } = gi.buildSivshmModule(work, kver);
  if (!existsSync(ko)) throw new Error(`sivshm.ko did not build: ${log.slice(-2000)}`);
  const root = join(work, 'rootfs');
  for (const d of [
    'bin',
    'etc',
    'proc',
    'sys',
    'dev',
    'tmp',
    'lib/modules',
    'app/dist',
    'app/proto',
  ]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  gi.buildStaticTool('provision-key.c', join(root, 'bin/provision-key'));
  copyFileSync(ko, join(root, 'lib/modules/sivshm.ko'));
  // virtio-serial for the control port, fw_cfg for the key (both modules in Debian's kernel)
  const mods = gi.kernelModules(kver, ['virtio_pci', 'virtio_console', 'qemu_fw_cfg']);
  for (const m of mods) copyFileSync(m, join(root, 'lib/modules', basename(m)));
  writeFileSync(join(root, 'lib/modules/load-order'), mods.map((m) => basename(m)).join('\n'));
  writeFileSync(join(root, 'init'), INIT, { mode: 0o755 });

  // The app: one esbuild bundle of guest-app.js with @sivshm/runtime's Node.open handed in.
  const esbuildName = 'esbuild';
  const esbuild = (await import(esbuildName)) as EsbuildLike;
  const runtimeIndex = join(REPO, 'packages', 'runtime', 'dist', 'src', 'index.js');
  const app = join(HOSTD, 'dist', 'test', 'qemu', 'guest-app.js');
  for (const f of [runtimeIndex, app]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` at the root`);
  }
  await esbuild.build({
    stdin: {
      contents: `import { Node } from ${JSON.stringify(runtimeIndex)};
import { runGuestApp } from ${JSON.stringify(app)};
await runGuestApp((o) => Node.open(o), process.argv.slice(2));
`,
      resolveDir: HOSTD,
      sourcefile: 'guest-entry.js',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile: join(root, 'app', 'dist', 'guest.js'),
    // CommonJS dependencies bundled into ESM still call require() for Node's built-ins
    banner: {
      js: "import { createRequire as __sivshmCreateRequire } from 'node:module'; const require = __sivshmCreateRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  // Laid out like the transport package, so its addon loader finds build/Release.
  const addon = join(TRANSPORT, 'build', 'Release', 'sivshm_native.node');
  mkdirSync(join(root, 'app', 'build', 'Release'), { recursive: true });
  copyFileSync(addon, join(root, 'app', 'build', 'Release', 'sivshm_native.node'));
  copyFileSync(join(TRANSPORT, 'binding.gyp'), join(root, 'app', 'binding.gyp'));
  writeFileSync(join(root, 'app', 'package.json'), '{ "type": "module", "private": true }\n');
  copyFileSync(guestConfig, join(root, 'app', 'services.yaml'));
  copyFileSync(
    join(REPO, 'examples', 'proto', 'vehicle.proto'),
    join(root, 'app', 'proto', 'vehicle.proto'),
  );
  // @sivshm/core loads its .proto files from `<package root>/proto` at run time: in the bundle
  // the package root is /app.
  for (const f of ['control.proto', 'sivshm.proto']) {
    copyFileSync(join(REPO, 'packages', 'core', 'proto', f), join(root, 'app', 'proto', f));
  }
  gi.addNodeRuntime(root, [addon]);
  const image = join(work, 'initramfs.cpio.gz');
  gi.packInitramfs(root, image);
  return image;
}

// ---- guests and their logs

interface Guest {
  readonly role: 'provider' | 'consumer';
  readonly vm: string;
  readonly logPath: string;
  readonly qemu: ChildProcess;
  exited: Promise<number | null>;
}

function bootGuest(o: {
  work: string;
  kver: string;
  image: string;
  runDir: string;
  role: Guest['role'];
  vm: string;
  vmId: number;
  keyFile: string;
}): Guest {
  const logPath = join(o.work, `${o.role}-serial.log`);
  const args = [
    '-accel',
    'tcg',
    '-m',
    GUEST_MEMORY,
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
    `file:${logPath}`,
    '-kernel',
    `/boot/vmlinuz-${o.kver}`,
    '-initrd',
    o.image,
    '-append',
    `console=ttyS0 loglevel=3 sivshm_role=${o.role}`,
    // the region and the doorbells: hostd's ivshmem server hands QEMU the region fd
    '-chardev',
    `socket,id=ivs,path=${join(o.runDir, 'ivshmem.sock')}`,
    '-device',
    'ivshmem-doorbell,chardev=ivs,vectors=2',
    // the control link: QEMU connects to hostd's per-VM socket (hostd listens); reconnect=1:
    // when hostd drops the link (--vm-timeout, a protocol error), QEMU dials again within 1 s,
    // so the port works for the guest's next app.
    '-chardev',
    `socket,id=ctl,path=${join(o.runDir, `${o.vm}.sock`)},reconnect=1`,
    '-device',
    'virtio-serial-pci',
    '-device',
    'virtserialport,chardev=ctl,name=org.sivshm.control',
    // the VM's grant key and id, for the init step only
    '-fw_cfg',
    `name=opt/sivshm/key,file=${o.keyFile}`,
    '-fw_cfg',
    `name=opt/sivshm/vm-id,string=${o.vmId}`,
  ];
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  qemu.stdout?.on('data', (d: Buffer) => (said += d.toString('latin1')));
  qemu.stderr?.on('data', (d: Buffer) => (said += d.toString('latin1')));
  const exited = new Promise<number | null>((resolve) => {
    qemu.on('close', (code) => {
      if (said !== '') writeFileSync(`${logPath}.qemu`, said);
      resolve(code);
    });
  });
  return { role: o.role, vm: o.vm, logPath, qemu, exited };
}

const read = (g: Guest): string =>
  existsSync(g.logPath) ? readFileSync(g.logPath, 'latin1').replace(/\r/g, '') : '';

/** The last lines of a guest's console and of what QEMU said, for a failure message. */
function tail(g: Guest, n = 12): string {
  const qemuSaid = existsSync(`${g.logPath}.qemu`)
    ? readFileSync(`${g.logPath}.qemu`, 'latin1')
    : '';
  const lines = `${read(g)}${qemuSaid}`.split('\n').filter((l) => l.trim() !== '');
  return `[${g.role} log tail: ${lines.slice(-n).join(' | ')}] (log: ${g.logPath})`;
}

type Step = Record<string, unknown> & { step: string };

/** Every `@@ app {…}` line the guest printed so far. */
function steps(g: Guest): Step[] {
  const found: Step[] = [];
  for (const line of read(g).split('\n')) {
    const m = /@@ app (\{.*\})\s*$/.exec(line);
    if (m?.[1] === undefined) continue;
    try {
      found.push(JSON.parse(m[1]) as Step);
    } catch {
      // A console line cut by kernel output: the step is reported again or times out.
    }
  }
  return found;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for the guest's step `name` (or its `failed` step, or QEMU's exit); bounded. */
async function waitStep(g: Guest, name: string, timeoutMs: number): Promise<Step | string> {
  let dead = false;
  void g.exited.then(() => (dead = true));
  const end = Date.now() + timeoutMs;
  for (;;) {
    const all = steps(g);
    const s = all.find((x) => x.step === name);
    if (s !== undefined) return s;
    const failed = all.find((x) => x.step === 'failed');
    if (failed !== undefined) return `the app failed: ${String(failed['message'])} ${tail(g)}`;
    if (dead) return `QEMU exited before step ${name} ${tail(g)}`;
    if (Date.now() > end) return `no step ${name} within ${timeoutMs} ms ${tail(g)}`;
    await sleep(250);
  }
}

// ---- hostd

interface StatusDoc {
  vms: Array<{
    id: number;
    name: string;
    connected: boolean;
    enrolled: boolean;
    doorbellId?: number;
  }>;
  channels: Array<{
    channelId: string;
    state: string;
    consumerVm: number;
    providerVm: number;
    window: { offset: number; length: number };
  }>;
  region: { allocatedBytes: number; quarantinedBytes: number };
  handshakes: { established: number; timingMs: { last?: number } };
}

/** `sivshm status --json --run-dir D`, as an operator would run it. */
function status(runDir: string): Promise<StatusDoc> {
  const cli = join(REPO, 'apps', 'cli', 'dist', 'src', 'bin.js');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cli, 'status', '--json', '--run-dir', runDir],
      { timeout: 10_000 },
      (e, stdout, stderr) => {
        if (e !== null) reject(new Error(`sivshm status failed: ${stderr || e.message}`));
        else resolve(JSON.parse(stdout) as StatusDoc);
      },
    );
  });
}

async function waitFor(paths: string[], timeoutMs: number): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const missing = paths.filter((p) => !existsSync(p));
    if (missing.length === 0) return [];
    await sleep(100);
  }
  return paths.filter((p) => !existsSync(p));
}

// ---- the run

async function scenario(work: string, gi: GuestImage, kver: string): Promise<void> {
  const runDir = join(work, 'run');
  const stateDir = join(work, 'state');
  const cfgDir = join(work, 'config');
  for (const d of [runDir, stateDir, join(cfgDir, 'proto')])
    mkdirSync(d, { recursive: true, mode: 0o700 });
  const keys = {
    provider: join(cfgDir, 'infotainment.key'),
    consumer: join(cfgDir, 'cluster.key'),
  };
  writeFileSync(keys.provider, randomBytes(32), { mode: 0o600 });
  writeFileSync(keys.consumer, randomBytes(32), { mode: 0o600 });
  copyFileSync(
    join(REPO, 'examples', 'proto', 'vehicle.proto'),
    join(cfgDir, 'proto', 'vehicle.proto'),
  );
  const config = join(cfgDir, 'services.yaml');
  writeFileSync(config, servicesYaml(join(runDir, 'region'), keys));

  const t0 = Date.now();
  const image = await buildImage(gi, work, kver, config);
  out(
    `# image ${(statSync(image).size / 2 ** 20).toFixed(1)} MiB (gzip) built in ${((Date.now() - t0) / 1000).toFixed(1)} s (kernel ${kver})`,
  );

  const hostdLog = join(work, 'hostd.log');
  const hostd = spawn(
    process.execPath,
    [
      join(HOSTD, 'dist', 'src', 'bin.js'),
      '--config',
      config,
      '--run-dir',
      runDir,
      '--state-dir',
      stateDir,
      '--qemu',
      '--log-level',
      'debug',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let hostdSaid = '';
  hostd.stderr?.on('data', (d: Buffer) => (hostdSaid += d.toString()));
  const hostdExit = new Promise<number | null>((r) => hostd.on('close', (c) => r(c)));
  const guests: Guest[] = [];
  try {
    const missing = await waitFor(
      ['infotainment.sock', 'cluster.sock', 'ivshmem.sock', 'status.sock'].map((s) =>
        join(runDir, s),
      ),
      20_000,
    );
    if (
      !record(
        'hostd-qemu-mode-started',
        missing.length === 0,
        `no ${missing.join(', ')}; hostd said: ${hostdSaid.slice(-1500)}`,
      )
    )
      return;

    const tBoot = Date.now();
    const common = { work, kver, image, runDir };
    const provider = bootGuest({
      ...common,
      role: 'provider',
      vm: 'infotainment',
      vmId: 1,
      keyFile: keys.provider,
    });
    guests.push(provider);
    const consumer = bootGuest({
      ...common,
      role: 'consumer',
      vm: 'cluster',
      vmId: 2,
      keyFile: keys.consumer,
    });
    guests.push(consumer);

    // 1. control link over virtio-serial: hello → attach → enrol, for both
    const [po, co] = await Promise.all([
      waitStep(provider, 'offered', OPEN_TIMEOUT_MS),
      waitStep(consumer, 'open', OPEN_TIMEOUT_MS),
    ]);
    for (const [g, r] of [
      [provider, po],
      [consumer, co],
    ] as const) {
      const log = read(g);
      record(
        `${g.role}/key-provisioned-from-fw-cfg`,
        /@@ ok provision-key vm \d/.test(log),
        `${/@@ not ok provision-key[^\n]*/.exec(log)?.[0] ?? 'no report'} ${tail(g)}`,
      );
      record(
        `${g.role}/node-open-over-virtio-serial`,
        typeof r !== 'string',
        typeof r === 'string' ? r : '',
      );
    }
    const openStep = steps(consumer).find((s) => s.step === 'open');
    if (openStep !== undefined)
      out(
        `# guests booted and attached: consumer Node.open ${String(openStep['ms'])} ms, ${((Date.now() - tBoot) / 1000).toFixed(1)} s after boot`,
      );
    if (typeof po === 'string' || typeof co === 'string') return;

    // 2. discovery and the handshake through hostd (after the crashing app's, see INIT)
    const consumed = await waitStep(consumer, 'consumed', STEP_TIMEOUT_MS);
    const crashed = steps(consumer).find((s) => s.step === 'crash-consumed');
    record(
      'consumer/restarted-app-starts-clean-on-the-same-port',
      crashed !== undefined &&
        crashed['status'] === 'connected' &&
        typeof consumed !== 'string' &&
        consumed['channelId'] !== crashed['channelId'] &&
        hostdSaid.includes('the VM started over'),
      `crashing app ${JSON.stringify(crashed)}, next app ${typeof consumed === 'string' ? consumed : JSON.stringify(consumed)}, hostd logged the start-over: ${hostdSaid.includes('the VM started over')}`,
    );
    if (
      !record(
        'consumer/discovers-provider-and-handshake-completes',
        typeof consumed !== 'string' &&
          consumed['status'] === 'connected' &&
          typeof consumed['handshakeMs'] === 'number',
        typeof consumed === 'string' ? consumed : JSON.stringify(consumed),
      ) ||
      typeof consumed === 'string'
    )
      return;
    out(
      `# handshake ${Number(consumed['handshakeMs']).toFixed(1)} ms (M1 sent → grant verified, in the guest); find + handshake ${String(consumed['findMs'])} ms`,
    );

    // 3. events and a method call
    const ev = await waitStep(consumer, 'events', STEP_TIMEOUT_MS);
    record(
      'consumer/events-arrive-in-order-and-intact',
      typeof ev !== 'string' && ev['received'] === BURST && ev['firstBad'] === null,
      typeof ev === 'string' ? ev : JSON.stringify(ev),
    );
    const calls = await waitStep(consumer, 'calls', STEP_TIMEOUT_MS);
    record(
      'consumer/method-call-round-trip',
      typeof calls !== 'string' && Number(calls['ok']) >= 2 && calls['error'] === null,
      typeof calls === 'string' ? calls : JSON.stringify(calls),
    );
    if (typeof calls !== 'string')
      out(
        `# method round trip p50 ${Number(calls['p50Ms']).toFixed(2)} ms, max ${Number(calls['maxMs']).toFixed(2)} ms (${String(calls['ok'])} calls, TCG guests)`,
      );

    // 4. the grant, as the kernel enforces it
    const grant = await waitStep(consumer, 'grant', STEP_TIMEOUT_MS);
    const st = await status(runDir);
    const channel = st.channels.find(
      (c) => c.consumerVm === 2 && c.providerVm === 1 && c.state === 'ACTIVE',
    );
    if (typeof grant === 'string' || channel === undefined) {
      record(
        'consumer/mapping-only-its-window',
        false,
        typeof grant === 'string'
          ? grant
          : `hostd shows no active channel: ${JSON.stringify(st.channels)}`,
      );
    } else {
      const maps = grant['maps'] as Array<{ offset: number; length: number }>;
      const w = channel.window;
      record(
        'consumer/mapping-only-its-window',
        maps.length > 0 &&
          maps.every((m) => m.offset >= w.offset && m.offset + m.length <= w.offset + w.length),
        `device mappings ${JSON.stringify(maps)}, granted window ${JSON.stringify(w)}`,
      );
      record(
        'consumer/ungranted-file-maps-nothing',
        grant['header'] === 'EPERM' &&
          grant['window'] === 'EPERM' &&
          grant['afterWindow'] === 'EPERM',
        `header ${String(grant['header'])}, own window on an ungranted file ${String(grant['window'])}, after the window ${String(grant['afterWindow'])}`,
      );
      record(
        'consumer/app-cannot-read-the-key',
        grant['uid'] === 1000 && grant['keyRead'] === 'EACCES',
        `uid ${String(grant['uid'])}, reading fw_cfg key: ${String(grant['keyRead'])}`,
      );
      record(
        'consumer/doorbells-delivered-by-the-device',
        Number(grant['doorbells']) > 0,
        `the consumer counted ${String(grant['doorbells'])} doorbell interrupts (notify: event)`,
      );
      out(`# consumer received ${String(grant['doorbells'])} doorbells through sivshm.ko`);
    }
    const vms = st.vms
      .filter((v) => v.connected && v.enrolled)
      .map((v) => v.name)
      .sort();
    record(
      'hostd-status-shows-both-vms',
      vms.join(',') === 'cluster,infotainment',
      `status --json: ${JSON.stringify(st.vms)}`,
    );
    const ids = st.vms.map((v) => v.doorbellId);
    record(
      'hostd-learned-both-doorbell-ids',
      ids.every((i) => typeof i === 'number') && ids[0] !== ids[1],
      `doorbell ids ${JSON.stringify(ids)}`,
    );
    // The provider reports every 5 s: take a report made after the consumer's calls.
    const aliveCount = (): number => steps(provider).filter((s) => s.step === 'alive').length;
    const aliveBefore = aliveCount();
    for (let i = 0; i < 40 && aliveCount() <= aliveBefore; i++) await sleep(250);
    const pAlive = steps(provider)
      .filter((s) => s.step === 'alive')
      .at(-1);
    record(
      'provider/doorbells-delivered-by-the-device',
      Number(pAlive?.['doorbells']) > 0,
      `the provider's last report: ${JSON.stringify(pAlive)} ${tail(provider)}`,
    );

    // 5. teardown: kill the provider's QEMU
    const steady = await waitStep(consumer, 'steady', STEP_TIMEOUT_MS);
    if (typeof steady === 'string') {
      record('consumer/peer-gone-when-provider-killed', false, steady);
      return;
    }
    provider.qemu.kill('SIGKILL');
    await provider.exited;
    const gone = await waitStep(consumer, 'peer-gone', PEER_GONE_TIMEOUT_MS);
    record(
      'consumer/peer-gone-when-provider-killed',
      typeof gone !== 'string' && Number(gone['afterMs']) >= 0,
      typeof gone === 'string' ? gone : JSON.stringify(gone),
    );
    let after: StatusDoc | undefined;
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      after = await status(runDir);
      if (
        channel !== undefined &&
        !after.channels.some((c) => c.channelId === channel.channelId) &&
        after.region.allocatedBytes === 0
      )
        break;
      await sleep(250);
    }
    record(
      'hostd-frees-the-channel',
      channel !== undefined &&
        after !== undefined &&
        !after.channels.some((c) => c.channelId === channel.channelId) &&
        after.region.allocatedBytes === 0,
      `channels ${JSON.stringify(after?.channels)}, allocated ${after?.region.allocatedBytes}, quarantined ${after?.region.quarantinedBytes}`,
    );
    record(
      'hostd-sees-provider-gone',
      after?.vms.find((v) => v.id === 1)?.connected === false,
      JSON.stringify(after?.vms),
    );
    const closed = await waitStep(consumer, 'closed', GUEST_EXIT_TIMEOUT_MS);
    const code = await Promise.race([
      consumer.exited,
      sleep(GUEST_EXIT_TIMEOUT_MS).then(() => 'timeout'),
    ]);
    record(
      'consumer/closes-and-powers-off',
      typeof closed !== 'string' && code === 0 && read(consumer).includes('@@ DONE'),
      `${typeof closed === 'string' ? closed : ''} qemu exit ${String(code)} ${tail(consumer)}`,
    );
  } finally {
    for (const g of guests) g.qemu.kill('SIGKILL');
    await Promise.all(guests.map((g) => g.exited));
    hostd.kill('SIGTERM');
    const code = await Promise.race([hostdExit, sleep(10_000).then(() => 'timeout')]);
    if (code === 'timeout') hostd.kill('SIGKILL');
    writeFileSync(hostdLog, hostdSaid);
    record('hostd-stops-cleanly', code === 0, `exit ${String(code)}; log ${hostdLog}`);
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const giPath = join(KMOD, 'dist', 'test', 'vm', 'guest-image.js');
  if (!existsSync(giPath)) {
    record('qemu-tier-preflight', false, `${giPath} is missing: run \`npm run build\` at the root`);
    return;
  }
  const gi = (await import(pathToFileURL(giPath).href)) as GuestImage;
  const missing = gi.missingTools();
  const kver = gi.pickKernel();
  if (missing.length > 0 || kver === undefined) {
    record('qemu-tier-preflight', false, `missing: ${missing.join(', ')}`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'sivshm-qemu-'));
  try {
    await scenario(work, gi, kver);
  } catch (e) {
    record('qemu-tier', false, `${(e as Error).stack ?? String(e)} (work dir: ${work})`);
  } finally {
    out(`# tier 3 done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (results.some((r) => r.status === 'not ok')) out(`# logs kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

const only = process.env['SIVSHM_VM_ONLY'];
if (only !== undefined && !only.split(',').includes('qemu')) {
  skip('qemu-tier', `SIVSHM_VM_ONLY=${only}`);
} else {
  await main();
}
const n = (s: string): number => results.filter((r) => r.status === s).length;
out(`${n('ok')} passed, ${n('not ok')} failed, ${n('skip')} skipped`);
process.exitCode = n('not ok') > 0 ? 1 : 0;
