/**
 * The QEMU tier of @sivshm/kmod (`npm run test:vm -w @sivshm/kmod`).
 *
 * Builds sivshm.ko, a test module that runs @sivshm/core's grant vectors through the driver's
 * own grant check, and a static selftest; packs them into a busybox initramfs; writes a region
 * file with a layout v1 header; boots two TCG guests on it (`ivshmem-plain`) and plays hostd for
 * them over a second serial port: it provisions each VM's key and signs the grant and revoke
 * tokens the selftest asks for. Then boots two guests on `ivshmem-doorbell` with the project's
 * ivshmem server, and one guest whose initramfs also carries Node (the host's binary and the
 * libraries `ldd` lists) and a bundle of transport-ivshmem's `kernel-device.int.spec`: the
 * ChannelDevice contract suite runs there against the real `/dev/sivshm` (guest-runner.ts).
 * Prints `ok <name>` / `not ok <name>: reason` per scenario and a final
 * `N passed, N failed, N skipped` line; exits non-zero on failure. `SIVSHM_VM_ONLY=plain,doorbell,
 * node` runs only the named groups (the others are reported as skipped), for work on one of them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import {
  GRANT_TAG_LABEL,
  GrantLayout,
  GrantPerm,
  GrantRole,
  PAGE_SIZE,
  RegionHeaderLayout,
  REVOKE_TAG_LABEL,
  RevokeLayout,
  SivshmVerdict,
  WindowLayout,
  type SivshmVerdictName,
} from '@sivshm/abi';

import {
  addNodeRuntime,
  BUILD_TIMEOUT_MS,
  buildSivshmModule,
  buildStaticTool,
  kmodRoot,
  missingTools,
  packInitramfs,
  pickKernel,
} from './guest-image.js';

const REGION_SIZE = 4 << 20;
const CONTROL_OFFSET = PAGE_SIZE;
const DATA_OFFSET = 64 * 1024;
const EPOCH = 7n;
const DATA_AREA = PAGE_SIZE;
const WIN_LEN = WindowLayout.windowLength(DATA_AREA);
const WIN_A = DATA_OFFSET; // channel 1: consumer in guest 1, provider in guest 2
const WIN_B = DATA_OFFSET + 64 * 1024; // channel 2: granted to nobody
const GUEST_TIMEOUT_MS = 200_000;

const ROOT = kmodRoot();
/** Kernel sources to build; SIVSHM_VM_KERNEL_SRC points elsewhere for mutation runs. */
const KERNEL_SRC = process.env['SIVSHM_VM_KERNEL_SRC'] ?? join(ROOT, 'kernel');
const results: Array<{ name: string; status: 'ok' | 'not ok' | 'skip'; reason?: string }> = [];
/** RAM of the Node guest: its initramfs (~110 MB unpacked) lives in it, next to Node's heap. */
const NODE_GUEST_MEMORY = '768M';
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function record(name: string, ok: boolean, reason = ''): void {
  results.push(ok ? { name, status: 'ok' } : { name, status: 'not ok', reason });
  out(ok ? `ok ${name}` : `not ok ${name}: ${reason}`);
}

function skip(name: string, reason: string): void {
  results.push({ name, status: 'skip', reason });
  out(`skip ${name}: ${reason}`);
}

function finish(): never {
  const n = (s: string): number => results.filter((r) => r.status === s).length;
  out(`${n('ok')} passed, ${n('not ok')} failed, ${n('skip')} skipped`);
  process.exit(n('not ok') > 0 ? 1 : 0);
}

/** `make` with stderr captured even on success, so warnings can be counted. */
function make(kdir: string, dir: string): string {
  const log = join(dir, 'build.log');
  execFileSync('sh', ['-c', `make -C '${kdir}' M='${dir}' W=1 modules > '${log}' 2>&1`], {
    timeout: BUILD_TIMEOUT_MS,
  });
  return readFileSync(log, 'utf8');
}

// ---- tokens (PROTOCOL.md §4), encoded from @sivshm/core's layout and signed with node:crypto

interface GrantFields {
  role: number;
  epoch: bigint;
  serial: bigint;
  vmId: number;
  channelId: bigint;
  windowOffset: bigint;
  windowLength: bigint;
  kn: Buffer;
  notAfterNs: bigint;
}

function encodeGrant(f: GrantFields): Buffer {
  const L = GrantLayout;
  const b = Buffer.alloc(L.size);
  b.writeUInt32LE(L.magic, L.off.magic);
  b.writeUInt8(L.version, L.off.version);
  b.writeUInt8(f.role, L.off.role);
  b.writeUInt16LE(GrantPerm.map, L.off.perms);
  b.writeBigUInt64LE(f.epoch, L.off.epoch);
  b.writeBigUInt64LE(f.serial, L.off.grantSerial);
  b.writeUInt32LE(f.vmId, L.off.vmId);
  b.writeBigUInt64LE(f.channelId, L.off.channelId);
  b.writeBigUInt64LE(f.windowOffset, L.off.windowOffset);
  b.writeBigUInt64LE(f.windowLength, L.off.windowLength);
  f.kn.copy(b, L.off.kn);
  b.writeBigUInt64LE(f.notAfterNs, L.off.notAfter);
  return b;
}

function encodeRevoke(epoch: bigint, serial: bigint, vmId: number, channelId: bigint): Buffer {
  const L = RevokeLayout;
  const b = Buffer.alloc(L.size);
  b.writeUInt32LE(L.magic, L.off.magic);
  b.writeUInt8(L.version, L.off.version);
  b.writeBigUInt64LE(epoch, L.off.epoch);
  b.writeBigUInt64LE(serial, L.off.revokeSerial);
  b.writeUInt32LE(vmId, L.off.vmId);
  b.writeBigUInt64LE(channelId, L.off.channelId);
  return b;
}

const tag = (key: Buffer, label: string, token: Buffer): Buffer =>
  createHmac('sha256', key).update(label, 'utf8').update(token).digest();

type SelftestMode = 'consumer' | 'provider' | 'ring' | 'wait';

interface Guest {
  /** What the guest runs (a selftest mode, or `node`: the contract suite); names its log. */
  mode: SelftestMode | 'node';
  /** Its role in channel 1. */
  role: 'consumer' | 'provider';
  /** Fourth selftest argument: the other window (plain) or the peer's IVPosition (doorbell). */
  arg: number;
  vmId: number;
  key: Buffer;
  serial: bigint;
  revokeSerial: bigint;
  /** The host file behind this guest's BAR2, for `READ` requests (hostd's view). */
  region?: string;
}

const MAX_READ = 64 * 1024;

/** hostd's view of the region: `READ <offset> <length>` answered in hex from the host file. */
function readRegion(g: Guest, offArg: string | undefined, lenArg: string | undefined): string {
  const off = Number(offArg);
  const len = Number(lenArg);
  if (
    g.region === undefined ||
    !Number.isSafeInteger(off) ||
    !Number.isSafeInteger(len) ||
    off < 0 ||
    len < 1 ||
    len > MAX_READ ||
    off + len > REGION_SIZE
  ) {
    return 'ERROR';
  }
  const b = Buffer.alloc(len);
  const fd = openSync(g.region, 'r');
  try {
    readSync(fd, b, 0, len, off);
  } finally {
    closeSync(fd);
  }
  return b.toString('hex');
}

/** hostd's answer to one request line of the guest selftest. */
function answer(g: Guest, other: Guest, line: string): string {
  const [verb, spec, knHex] = line.trim().split(' ');
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  if (verb === 'KEY') return `${g.key.toString('hex')} ${g.vmId}`;
  if (verb === 'READ') return readRegion(g, spec, knHex);
  if (verb === 'REVOKE') {
    const token = encodeRevoke(EPOCH, ++g.revokeSerial, g.vmId, 1n);
    const t = tag(g.key, REVOKE_TAG_LABEL, token);
    if (spec === 'forged') t[0] = (t[0] ?? 0) ^ 1;
    return token.toString('hex') + t.toString('hex');
  }
  if (verb !== 'GRANT' || spec === undefined || knHex?.length !== 32) return 'ERROR';
  const f: GrantFields = {
    role: g.role === 'consumer' ? GrantRole.consumer : GrantRole.provider,
    epoch: EPOCH,
    serial: ++g.serial,
    vmId: g.vmId,
    channelId: 1n,
    windowOffset: BigInt(WIN_A),
    windowLength: BigInt(WIN_LEN),
    kn: Buffer.from(knHex, 'hex'),
    notAfterNs: nowNs + 600_000_000_000n,
  };
  let key = g.key;
  switch (spec) {
    case 'other-vm-key':
      f.vmId = other.vmId;
      key = other.key;
      break;
    case 'other-vm-id':
      f.vmId = other.vmId;
      break;
    case 'old-epoch':
      f.epoch = EPOCH - 1n;
      break;
    case 'expired':
      f.notAfterNs = nowNs - 3_600_000_000_000n; // an hour: guest clocks under TCG drift
      break;
    case 'control':
      f.windowOffset = BigInt(CONTROL_OFFSET);
      break;
    case 'header':
      f.windowOffset = 0n;
      break;
    case 'beyond':
      f.windowOffset = BigInt(REGION_SIZE - 2 * PAGE_SIZE);
      break;
    case 'unaligned':
      f.windowOffset = BigInt(WIN_A + 8);
      break;
  }
  const token = encodeGrant(f);
  const t = tag(key, GRANT_TAG_LABEL, token);
  if (spec === 'forged') t[31] = (t[31] ?? 0) ^ 0x80;
  return token.toString('hex') + t.toString('hex');
}

// ---- region file

function writeRegion(path: string): void {
  const b = Buffer.alloc(REGION_SIZE);
  const o = RegionHeaderLayout.off;
  Buffer.from(RegionHeaderLayout.magic).copy(b, o.magic);
  b.writeUInt32LE(RegionHeaderLayout.layoutVersion, o.layoutVersion);
  b.writeUInt32LE(RegionHeaderLayout.size, o.headerSize);
  b.writeBigUInt64LE(BigInt(REGION_SIZE), o.regionSize);
  b.writeBigUInt64LE(EPOCH, o.epoch);
  b.writeBigUInt64LE(BigInt(CONTROL_OFFSET), o.controlOffset);
  b.writeBigUInt64LE(BigInt(DATA_OFFSET - CONTROL_OFFSET), o.controlSize);
  b.writeBigUInt64LE(BigInt(DATA_OFFSET), o.dataOffset);
  b.writeBigUInt64LE(BigInt(REGION_SIZE - DATA_OFFSET), o.dataSize);
  b.writeUInt32LE(16, o.channelCapacity);
  b.writeUInt32LE(128, o.channelEntrySize);
  writeFileSync(path, b);
}

// ---- grant vectors → C

interface VectorFile {
  label: string;
  vectors: Array<{
    name: string;
    key: string;
    token: string;
    tag: string;
    context: {
      vmId: number;
      epoch: string;
      kn: string;
      nowNs: string;
      regionSize: number;
      dataOffset: number;
      dataSize: number;
      seenSerials: string[];
    };
    expect: 'accept' | 'reject';
    reason?: string;
  }>;
}

function vectorsHeader(file: VectorFile): string {
  const bytes = (hex: string): string =>
    `{ ${(hex.match(/../g) ?? []).map((h) => `0x${h}`).join(', ')} }`;
  const lines = file.vectors.map((v) => {
    const want =
      v.expect === 'accept' ? 0 : SivshmVerdict[(v.reason ?? 'size') as SivshmVerdictName];
    if (want === undefined) throw new Error(`vector "${v.name}": unknown reason ${v.reason}`);
    if (v.context.seenSerials.length > 8) throw new Error(`vector "${v.name}": > 8 seen serials`);
    const c = v.context;
    return `\t{ .name = ${JSON.stringify(v.name)}, .key = ${bytes(v.key)}, .token = ${bytes(v.token)},
\t  .tag = ${bytes(v.tag)}, .vm_id = ${c.vmId}U, .epoch = ${c.epoch}ULL, .kn = ${bytes(c.kn)},
\t  .now_ns = ${c.nowNs}ULL, .region_size = ${c.regionSize}ULL, .data_offset = ${c.dataOffset}ULL,
\t  .data_size = ${c.dataSize}ULL, .seen = { ${c.seenSerials.map((s) => `${s}ULL`).join(', ')} },
\t  .nseen = ${c.seenSerials.length}, .want = ${want} },`;
  });
  return `/* generated by run-vm-tests from grant-vectors.json; do not edit */
static const struct sivshm_vector sivshm_vectors[] = {
${lines.join('\n')}
};
`;
}

// ---- guests

interface GuestRun {
  code: number | null;
  log: string;
  logPath: string;
}

/** Connects to QEMU's control chardev (retrying while QEMU starts) and answers requests. */
function serveControl(sock: string, g: Guest, other: Guest, deadline: number): void {
  const attempt = (): void => {
    const s: Socket = connect(sock);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        s.write(`${answer(g, other, line)}\n`);
      }
    });
    s.on('error', () => {
      if (Date.now() < deadline) setTimeout(attempt, 100);
    });
  };
  attempt();
}

/** How the guest gets the region: a shared file (ivshmem-plain) or the ivshmem server. */
type RegionDevice = { plain: string } | { doorbellSocket: string };

function bootGuest(
  work: string,
  kver: string,
  device: RegionDevice,
  g: Guest,
  other: Guest,
  boot: { initrd: string; memory: string } = {
    initrd: join(work, 'initramfs.cpio.gz'),
    memory: '256M',
  },
): Promise<GuestRun> {
  const sock = join(work, `${g.mode}.sock`);
  const logPath = join(work, `${g.mode}-serial.log`);
  const devArgs =
    'plain' in device
      ? [
          '-object',
          `memory-backend-file,size=${REGION_SIZE},share=on,mem-path=${device.plain},id=hm`,
          '-device',
          'ivshmem-plain,memdev=hm',
        ]
      : [
          '-chardev',
          `socket,path=${device.doorbellSocket},id=ivs`,
          '-device',
          'ivshmem-doorbell,chardev=ivs,vectors=1',
        ];
  const args = [
    '-accel',
    'tcg',
    '-m',
    boot.memory,
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
    `/boot/vmlinuz-${kver}`,
    '-initrd',
    boot.initrd,
    '-append',
    `console=ttyS0 loglevel=3 sivshm_role=${g.mode} sivshm_win=${WIN_A} sivshm_other=${g.arg}`,
    ...devArgs,
    '-chardev',
    `socket,id=ctl,path=${sock},server=on,wait=off`,
    '-device',
    'isa-serial,chardev=ctl',
  ];
  return new Promise((resolve) => {
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    q.stdout.on('data', (d: Buffer) => (log += d.toString('latin1')));
    q.stderr.on('data', (d: Buffer) => (log += d.toString('latin1')));
    const timer = setTimeout(() => {
      log += `\n[run-vm-tests] guest ${g.mode} killed after ${GUEST_TIMEOUT_MS} ms\n`;
      q.kill('SIGKILL');
    }, GUEST_TIMEOUT_MS);
    serveControl(sock, g, other, Date.now() + 30_000);
    q.on('close', (code) => {
      clearTimeout(timer);
      // the console went to logPath; append what QEMU itself said
      const serial = existsSync(logPath) ? readFileSync(logPath, 'latin1') : '';
      const clean = `${serial}${log}`.replace(/\r/g, '');
      writeFileSync(logPath, clean);
      resolve({ code, log: clean, logPath });
    });
  });
}

/** What each guest must report, in the selftest's own names. */
const EXPECTED: Record<SelftestMode, string[]> = {
  consumer: [
    'insmod',
    'set-key-needs-root',
    'set-key',
    'set-key-only-once',
    'device-info',
    'unknown-ioctl-enotty',
    'info-bad-pointer-efault',
    'nonce-bad-pointer-efault',
    'set-key-nonzero-pad-einval',
    'grant-nonzero-pad-einval',
    'grant-nonzero-verdict-einval',
    'revoke-nonzero-pad-einval',
    'doorbell-nonzero-pad-einval',
    'read-short-buffer-einval',
    'ungranted-mmap-eperm',
    'forged-grant-refused',
    'other-vm-key-grant-refused',
    'other-vm-id-grant-refused',
    'old-epoch-grant-refused',
    'expired-grant-refused',
    'control-section-grant-refused',
    'header-grant-refused',
    'beyond-region-grant-refused',
    'unaligned-grant-refused',
    'other-file-grant-refused',
    'grant-accepted',
    'replayed-grant-refused',
    'grant-is-per-file',
    'grant-does-not-reach-channel-b',
    'grant-does-not-reach-header',
    'grant-does-not-reach-control',
    'mmap-page-before-window-refused',
    'mmap-past-window-refused',
    'private-mmap-refused',
    'exec-mmap-refused',
    'granted-process-maps-window',
    'own-pages-writable',
    'reads-what-peer-guest-wrote',
    'peer-data-write-faults',
    'peer-producer-page-write-faults',
    'peer-consumer-page-write-faults',
    'peer-data-unchanged',
    'peer-page-maps-read-only',
    'mprotect-write-on-peer-page-fails',
    'writable-mmap-of-peer-page-refused',
    'madvise-dofork-refused',
    'mremap-grow-refused',
    'forked-child-cannot-use-mapping',
    'forged-revoke-refused',
    'revoke-accepted',
    'access-after-revoke-faults',
    'mmap-after-revoke-refused',
    'replayed-revoke-refused',
  ],
  provider: [
    'insmod',
    'set-key-needs-root',
    'set-key',
    'set-key-only-once',
    'provider-grant',
    'provider-maps-window',
    'provider-reads-consumer-data',
    'provider-sees-consumer-done',
  ],
  ring: [
    'insmod',
    'set-key-needs-root',
    'set-key',
    'set-key-only-once',
    'doorbell-needs-a-grant',
    'doorbell-guest-grant',
    'doorbell-peer-ready',
    'doorbell-ring',
    'doorbell-peer-woke',
  ],
  wait: [
    'insmod',
    'set-key-needs-root',
    'set-key',
    'set-key-only-once',
    'doorbell-device-has-msix',
    'no-event-before-doorbell',
    'doorbell-guest-grant',
    'doorbell-wakes-poll',
    'doorbell-read-reports-vector',
  ],
};

function judgeGuest(g: SelftestMode, r: GuestRun): void {
  const seen = new Map<string, string | undefined>();
  for (const line of r.log.split('\n')) {
    const m = /^@@ (ok|not ok) ([\w-]+)(?:: (.*))?$/.exec(line.trim());
    if (m?.[2] !== undefined) seen.set(m[2], m[1] === 'ok' ? undefined : (m[3] ?? 'failed'));
  }
  const where = `(serial log: ${r.logPath})`;
  for (const name of new Set([...EXPECTED[g], ...seen.keys()])) {
    if (!seen.has(name)) {
      record(`${g}/${name}`, false, `not reported by the guest, exit ${r.code} ${where}`);
    } else {
      const why = seen.get(name);
      record(`${g}/${name}`, why === undefined, `${why ?? ''} ${where}`);
    }
  }
  record(
    `${g}/guest-powered-off`,
    r.code === 0 && r.log.includes('@@ DONE'),
    `qemu exit ${r.code} ${where}`,
  );
}

function judgeVectors(r: GuestRun, total: number): void {
  const lines = r.log.split('\n').filter((l) => l.startsWith('@@ vector '));
  const bad = lines.filter((l) => l.startsWith('@@ vector not ok'));
  const summary = lines.find((l) => l.startsWith('@@ vector summary'));
  record(
    'kernel-grant-check-agrees-with-core-vectors',
    bad.length === 0 && summary === `@@ vector summary ${total}/${total} agree`,
    `${summary ?? 'no summary'}; ${bad.map((l) => l.slice(10)).join('; ')} (serial log: ${r.logPath})`,
  );
}

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
arg() { sed -n "s/.*$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
role=$(arg sivshm_role)
echo "@@ guest $role up at $(cut -d' ' -f1 /proc/uptime)s, wall clock $(date +%s)"
if insmod /lib/modules/sivshm.ko; then echo "@@ ok insmod"; else echo "@@ not ok insmod: failed"; fi
if [ "$role" = node ]; then
  stty -F /dev/ttyS1 raw -echo
  echo "@@ node starting at $(cut -d' ' -f1 /proc/uptime)s"
  /bin/node /app/dist/runner.js /dev/ttyS1 /app/dist/spec.js /app/dist/kernel-device.js /lib/modules/sivshm.ko
else
  /bin/selftest "$role" /dev/ttyS1 "$(arg sivshm_win)" "$(arg sivshm_other)"
fi
if [ "$role" = consumer ]; then
  insmod /lib/modules/sivshm_vectors.ko
  dmesg | sed -n 's/.*sivshm_vectors: /@@ vector /p'
fi
echo "@@ DONE at $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
`;

function newGuest(mode: Guest['mode'], role: Guest['role'], vmId: number, arg: number): Guest {
  return { mode, role, arg, vmId, key: randomBytes(32), serial: 0n, revokeSerial: 0n };
}

/** The part of @sivshm/transport-ivshmem's IvshmemServer this driver uses. */
interface IvshmemServerLike {
  close(): void;
}
interface TransportModule {
  IvshmemServer: {
    listen(o: {
      socketPath: string;
      shm: { path: string; size: number };
      vectors: number;
      onPeerJoined: (id: number) => void;
    }): IvshmemServerLike;
  };
}

/**
 * ivshmem-doorbell: the project's own ivshmem server (transport-ivshmem, loaded from its build
 * at run time: that package depends on this one) hands both guests the region and eventfds.
 */
async function doorbellGroup(work: string, kver: string): Promise<void> {
  const index = join(ROOT, '..', 'transport-ivshmem', 'dist', 'src', 'index.js');
  if (!existsSync(index)) {
    record('doorbell-group', false, `${index} is missing: run \`npm run build\` at the root first`);
    return;
  }
  const { IvshmemServer } = (await import(pathToFileURL(index).href)) as TransportModule;
  const shm = `/dev/shm/sivshm-vm-db-${process.pid}`;
  const socketPath = join(work, 'ivshmem.sock');
  const joined: number[] = [];
  const server = IvshmemServer.listen({
    socketPath,
    shm: { path: shm, size: REGION_SIZE },
    vectors: 1,
    onPeerJoined: (id) => joined.push(id),
  });
  try {
    writeRegion(shm);
    // the server numbers peers from 0 in join order: the ringer joins first, the waiter is 1
    const ringer = newGuest('ring', 'consumer', 1, 1);
    const waiter = newGuest('wait', 'provider', 2, 0);
    const device = { doorbellSocket: socketPath };
    const ring = bootGuest(work, kver, device, ringer, waiter);
    for (let i = 0; i < 300 && joined.length === 0; i++) await sleep(100);
    const wait = bootGuest(work, kver, device, waiter, ringer);
    const [rr, rw] = await Promise.all([ring, wait]);
    record(
      'doorbell-peers-numbered-in-join-order',
      joined.join(',') === '0,1',
      `joined ${joined.join(',')}`,
    );
    judgeGuest('ring', rr);
    judgeGuest('wait', rw);
  } finally {
    server.close();
    rmSync(shm, { force: true });
  }
}

// ---- the Node guest: KernelDevice's contract suite on the real /dev/sivshm

/** The part of esbuild this tier uses (a build tool of the repo, resolved at run time). */
interface EsbuildLike {
  build(o: {
    entryPoints: Record<string, string>;
    bundle: boolean;
    splitting: boolean;
    format: 'esm';
    platform: 'node';
    target: string;
    outdir: string;
    banner: { js: string };
    logLevel: 'error';
  }): Promise<unknown>;
}

/**
 * Builds the extra initramfs layer of the Node guest: `/bin/node` and its libraries, the native
 * addon, and one esbuild bundle (split in three: the runner, the spec, KernelDevice) under
 * `/app`, laid out like the package so the addon loader finds `build/Release`. Returns why it
 * cannot when a piece is missing (then the suite is reported as skipped with that reason).
 */
async function buildNodeLayer(work: string): Promise<{ initrd: string } | { missing: string }> {
  const transport = join(ROOT, '..', 'transport-ivshmem');
  const addon = join(transport, 'build', 'Release', 'sivshm_native.node');
  const entries = {
    runner: join(ROOT, 'dist', 'test', 'vm', 'guest-runner.js'),
    spec: join(transport, 'dist', 'test', 'device', 'kernel-device.int.spec.js'),
    'kernel-device': join(transport, 'dist', 'src', 'device', 'kernel-device.js'),
  };
  for (const f of [addon, ...Object.values(entries)]) {
    if (!existsSync(f)) return { missing: `${f} (run \`npm run build\` at the root first)` };
  }
  let esbuild: EsbuildLike;
  try {
    const name = 'esbuild'; // comes with tsx, the repo's dev runner
    esbuild = (await import(name)) as EsbuildLike;
  } catch (e) {
    return { missing: `esbuild, to bundle the spec (${(e as Error).message})` };
  }
  const layer = join(work, 'node-layer');
  const app = join(layer, 'app');
  mkdirSync(join(app, 'build', 'Release'), { recursive: true });
  mkdirSync(join(layer, 'bin'), { recursive: true });
  await esbuild.build({
    entryPoints: entries,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: join(app, 'dist'),
    // CommonJS dependencies bundled into ESM still call require() for Node's built-ins
    banner: {
      js: "import { createRequire as __sivshmCreateRequire } from 'node:module'; const require = __sivshmCreateRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  writeFileSync(join(app, 'package.json'), '{ "type": "module", "private": true }\n');
  copyFileSync(join(transport, 'binding.gyp'), join(app, 'binding.gyp'));
  copyFileSync(addon, join(app, 'build', 'Release', 'sivshm_native.node'));
  addNodeRuntime(layer, [addon]);
  const initrd = join(work, 'initramfs-node.cpio.gz');
  // The kernel unpacks concatenated archives in order: the base rootfs, then this layer.
  packInitramfs(layer, initrd, [join(work, 'initramfs.cpio.gz')]);
  return { initrd };
}

/**
 * Contract tests whose assertion sivshm.ko rightly refuses, keyed by test title, with the exact
 * failure they must show and why. They are reported as skipped with that reason; one that
 * passes or fails any other way is `not ok`, so an entry cannot outlive its cause.
 */
const KNOWN_DIVERGENCES: Record<string, { failure: RegExp; reason: string }> = {};

/** Records each contract test the Node guest reported, and that all of them were. */
function judgeNodeGuest(r: GuestRun): void {
  const where = `(serial log: ${r.logPath})`;
  let declared: number | undefined;
  let reported = 0;
  let skipped = 0;
  let done = false;
  for (const raw of r.log.split('\n')) {
    const line = raw.trim();
    const tests = /^@@ node tests (\d+)$/.exec(line);
    if (tests?.[1] !== undefined) declared = Number(tests[1]);
    if (/^@@ node done, \d+ failed$/.test(line)) done = true;
    const m = /^@@ node (ok|not ok|skip) (.+?)(?: ## (.*))?$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    const name = `kernel-device/${m[2]}`;
    if (declared !== undefined) reported++;
    const known = KNOWN_DIVERGENCES[m[2].split(' > ').at(-1) ?? ''];
    if (known !== undefined) {
      if (m[1] === 'not ok' && known.failure.test(m[3] ?? '')) skip(name, known.reason);
      else
        record(
          name,
          false,
          `a known divergence (${known.failure}) did not show: ${m[1]} ${m[3] ?? ''} ${where}`,
        );
    } else if (m[1] === 'skip') {
      skipped++;
      skip(name, `${m[3] ?? 'pending'} ${where}`);
    } else {
      record(name, m[1] === 'ok', `${m[3] ?? 'failed'} ${where}`);
    }
  }
  record(
    'kernel-device/contract-suite-ran-in-guest',
    declared !== undefined && declared > 0 && reported === declared && skipped === 0 && done,
    `the guest declared ${declared ?? 'no'} tests, reported ${reported}, skipped ${skipped}, ` +
      `${done ? 'finished' : 'did not finish'}; exit ${r.code} ${where}`,
  );
  record(
    'kernel-device/guest-powered-off',
    r.code === 0 && r.log.includes('@@ DONE'),
    `qemu exit ${r.code} ${where}`,
  );
}

/**
 * One guest with Node: the host writes a fresh region header (as hostd would), answers KEY and
 * READ on the control line, and the guest runs KernelDevice's contract suite on /dev/sivshm.
 */
async function nodeGroup(work: string, kver: string): Promise<void> {
  const layer = await buildNodeLayer(work);
  if ('missing' in layer) {
    skip('kernel-device/contract-suite', `cannot build the Node guest: missing ${layer.missing}`);
    return;
  }
  out(`# Node initramfs ${(statSync(layer.initrd).size / 2 ** 20).toFixed(1)} MiB (gzip); booting`);
  const shm = `/dev/shm/sivshm-vm-node-${process.pid}`;
  try {
    writeRegion(shm);
    const g: Guest = { ...newGuest('node', 'consumer', 3, 0), region: shm };
    const r = await bootGuest(work, kver, { plain: shm }, g, g, {
      initrd: layer.initrd,
      memory: NODE_GUEST_MEMORY,
    });
    judgeNodeGuest(r);
  } finally {
    rmSync(shm, { force: true });
  }
}

/**
 * ivshmem-plain: a consumer guest (the full selftest and the vector module) and a provider guest
 * on one region file; the host then checks what landed in the file.
 */
async function plainGroup(
  work: string,
  kver: string,
  shm: string,
  vectorCount: number,
): Promise<void> {
  writeRegion(shm);
  const consumer = newGuest('consumer', 'consumer', 1, WIN_B);
  const provider = newGuest('provider', 'provider', 2, WIN_B);
  const [rc, rp] = await Promise.all([
    bootGuest(work, kver, { plain: shm }, consumer, provider),
    bootGuest(work, kver, { plain: shm }, provider, consumer),
  ]);
  judgeGuest('consumer', rc);
  judgeGuest('provider', rp);
  judgeVectors(rc, vectorCount);

  const region = readFileSync(shm);
  const dir = WindowLayout.directionSize(DATA_AREA);
  const at = (off: number, s: string): boolean =>
    region.subarray(off, off + s.length).toString('latin1') === s;
  record(
    'host-sees-both-guests-writes',
    at(WIN_A + WindowLayout.dataArea, 'HELLO-FROM-A') &&
      at(WIN_A + dir + WindowLayout.dataArea, 'HELLO-FROM-B'),
    "the region file does not hold both guests' data",
  );
  record(
    'channel-b-untouched',
    region.subarray(WIN_B, WIN_B + WIN_LEN).every((b) => b === 0),
    'bytes appeared in a window nobody was granted',
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const t0 = Date.now();
  const kver = pickKernel();
  const missing = missingTools();
  if (missing.length > 0 || kver === undefined) {
    record('preflight', false, `missing: ${missing.join(', ')}`);
    finish();
  }
  const kdir = `/lib/modules/${kver}/build`;
  const work = mkdtempSync(join(tmpdir(), 'sivshm-vm-'));
  const shm = `/dev/shm/sivshm-vm-${process.pid}`;
  try {
    // sivshm.ko, built from a copy so the source tree stays clean
    const { ko, log } = buildSivshmModule(work, kver, KERNEL_SRC);
    writeFileSync(join(work, 'module-build.log'), log);
    const warnings = log.split('\n').filter((l) => /warning:|error:/.test(l));
    record(
      'module-builds-without-warnings',
      warnings.length === 0 && existsSync(ko),
      warnings.slice(0, 5).join(' | '),
    );

    // the vector module: the same grant .c files, plus core's vectors as C data
    const vecFile = join(ROOT, '..', 'core', 'test', 'fixtures', 'grant-vectors.json');
    const vectors = JSON.parse(readFileSync(vecFile, 'utf8')) as VectorFile;
    const vecDir = join(work, 'src', 'kvec');
    mkdirSync(vecDir);
    for (const f of ['sivshm_grant.c', 'sivshm_hmac.c', 'sivshm_grant.h']) {
      copyFileSync(join(KERNEL_SRC, f), join(vecDir, f));
    }
    copyFileSync(join(ROOT, 'test/vm/sivshm_vectors.c'), join(vecDir, 'sivshm_vectors_main.c'));
    writeFileSync(join(vecDir, 'sivshm_vectors_data.h'), vectorsHeader(vectors));
    writeFileSync(
      join(vecDir, 'Kbuild'),
      `obj-m := sivshm_vectors.o
sivshm_vectors-y := sivshm_vectors_main.o sivshm_grant.o sivshm_hmac.o
ccflags-y := -I${join(work, 'src/include/uapi')}
`,
    );
    make(kdir, vecDir);

    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'lib/modules']) {
      mkdirSync(join(rootfs, d), { recursive: true });
    }
    buildStaticTool('selftest.c', join(rootfs, 'bin/selftest'));
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    copyFileSync(ko, join(rootfs, 'lib/modules/sivshm.ko'));
    copyFileSync(join(vecDir, 'sivshm_vectors.ko'), join(rootfs, 'lib/modules/sivshm_vectors.ko'));
    writeFileSync(join(rootfs, 'init'), INIT, { mode: 0o755 });
    packInitramfs(rootfs, join(work, 'initramfs.cpio.gz'));
    out(`# built in ${((Date.now() - t0) / 1000).toFixed(1)} s (kernel ${kver}); booting guests`);

    const only = process.env['SIVSHM_VM_ONLY'];
    const groups = { plain: true, doorbell: true, node: true };
    if (only !== undefined) {
      for (const k of Object.keys(groups) as Array<keyof typeof groups>) {
        groups[k] = only.split(',').includes(k);
        if (!groups[k]) skip(`${k}-group`, `SIVSHM_VM_ONLY=${only}`);
      }
    }
    if (groups.plain) await plainGroup(work, kver, shm, vectors.vectors.length);
    out(`# plain group done at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (groups.doorbell) await doorbellGroup(work, kver);
    out(`# doorbell group done at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (groups.node) await nodeGroup(work, kver);
    out(`# guests done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    record('vm-tier', false, `${(e as Error).message} (work dir kept: ${work})`);
  } finally {
    rmSync(shm, { force: true });
    if (!results.some((r) => r.status === 'not ok')) rmSync(work, { recursive: true, force: true });
    else out(`# logs kept in ${work}`);
  }
  finish();
}

void main();
