/**
 * The arm64 16 KiB-page tier (`npm run test:vm:arm64 -w @sivshm/kmod`).
 *
 * A kernel whose pages are 16 KiB sets write permission for 16 KiB at once. This tier boots such
 * a kernel (Debian's arm64-16k flavour, TCG) twice with `ivshmem-plain` on a host region file
 * whose every 4 KiB page of the data section carries a marker, loads the cross-built sivshm.ko,
 * provisions K_vm from fw_cfg (provision-key.c, as the x86 tier does) and runs
 * `pagesize-checks.c`, which signs its own grants with K_vm:
 * - on a layout v1 region (4 KiB granule, whose windows put pages of both roles in one 16 KiB
 *   page) the module must refuse every grant with verdict `granule` (`arm64-16k-v1-*`);
 * - on a region laid out for a 16 KiB granule (layout version 2) it checks which pages map,
 *   which writes land and which fault, and runs a channel between two processes.
 * After each boot the host checks the region file: the writes the guest was allowed reached it,
 * the refused ones did not, and the channel's indices say every record was taken.
 * Prints `ok <name>` / `not ok <name>: reason` and a final `N passed, N failed, N skipped` line.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PageGranule } from '@sivshm/abi';
import {
  TierResults,
  buildSivshmModule,
  buildStaticTool,
  fwCfg,
  initScript,
  ivshmemPlain,
  kmodRoot,
} from '@sivshm/testing/qemu';
import {
  ARM64_CC,
  bootArm64,
  fetchArm64Kit,
  kernelModule,
  missingArm64Tools,
  packArm64Initramfs,
  type Arm64Kit,
} from './arm64-guest.js';
import { regionImage } from '../vm/region-image.js';

const REGION_SIZE = 4 << 20;
const CONTROL_OFFSET = 4096;
/** A multiple of 16 KiB: the data section of both regions starts here. */
const DATA_OFFSET = 64 * 1024;
/** pagesize-checks.c signs its grants for this epoch. */
const EPOCH = 9n;
const VM_ID = 3;
const SUB_PAGE = 4096;
const KPAGE = 16 * 1024;
/** The windows of pagesize-checks.c (granule boot): consumer of channel 1, provider of 2, 4. */
const WIN_CONSUMER = DATA_OFFSET;
const WIN_PROVIDER = DATA_OFFSET + 128 * 1024;
const WIN_CHANNEL = DATA_OFFSET + 512 * 1024;
const WIN_LEN = 128 * 1024;
const RING_DATA = 32 * 1024;
/** Requests pagesize-checks.c sends (and answers) through the channel, of 24 bytes each. */
const RECORDS = 3000;
const OWN_MARK = 'own-16k!';
/** Where pagesize-checks.c writes OWN_MARK: pages of the writing role (consumer, provider). */
const OWN_WRITES = [
  WIN_CONSUMER,
  WIN_CONSUMER + 2 * KPAGE,
  WIN_CONSUMER + 5 * KPAGE,
  WIN_PROVIDER + KPAGE,
  WIN_PROVIDER + 4 * KPAGE,
  WIN_PROVIDER + 7 * KPAGE,
];
const GUEST_TIMEOUT_MS = 240_000;
/** What sivshm_windows.c logs when it refuses a grant for its granule. */
const GRANULE_REFUSAL =
  "sivshm: grant refused: the region's (or channel device's) page granule is 4096 bytes";

/** Kernel sources to build; SIVSHM_ARM64_KERNEL_SRC points elsewhere for mutation runs. */
const KERNEL_SRC = process.env['SIVSHM_ARM64_KERNEL_SRC'] ?? join(kmodRoot(), 'kernel');

const results = new TierResults();
/** The two boots: the region's granule and the prefix of the guest's unprefixed check names. */
const BOOTS = [
  { mode: 'v1', granule: 4096, prefix: 'arm64-16k-v1-' },
  { mode: 'granule', granule: 16384, prefix: 'arm64-16k-' },
] as const;
type Boot = (typeof BOOTS)[number];

const INIT = initScript(`
echo "@@ kernel $(uname -r) $(uname -m), up at $(cut -d' ' -f1 /proc/uptime)s"
insmod /lib/modules/qemu_fw_cfg.ko
if insmod /lib/modules/sivshm.ko; then echo "@@ ok insmod"; else echo "@@ not ok insmod: failed"; fi
/bin/provision-key
/bin/pagesize-checks /sys/firmware/qemu_fw_cfg/by_name/opt/sivshm "$(arg sivshm_data)" "$(arg sivshm_vm)" "$(arg sivshm_mode)"
w=$(dmesg | grep -E "WARNING:|BUG:|Call Trace:" | head -3 | tr '\\n' ' ')
if [ -z "$w" ]; then echo "@@ ok dmesg-clean"; else echo "@@ not ok dmesg-clean: $w"; fi
dmesg | sed -n 's/.*\\(sivshm: .*\\)/@@ log \\1/p'
`);

/** The marker of the 4 KiB page at region offset `off`: its offset as 8 hex digits. */
const marker = (off: number): string => off.toString(16).padStart(8, '0');

/**
 * A region file whose header is laid out for `granule` (layout v1 for 4 KiB, version 2 naming
 * the granule otherwise), with a marker in every 4 KiB page of the data section.
 */
function writeRegion(path: string, granule: PageGranule): void {
  const b = regionImage({
    size: REGION_SIZE,
    epoch: EPOCH,
    controlOffset: CONTROL_OFFSET,
    dataOffset: DATA_OFFSET,
    granule,
  });
  for (let off = DATA_OFFSET; off < REGION_SIZE; off += SUB_PAGE)
    b.write(marker(off), off, 'latin1');
  writeFileSync(path, b);
}

/** Records the guest's `@@ ok` / `@@ not ok` lines; returns how many it printed. */
function judgeGuest(log: string, boot: Boot): number {
  let n = 0;
  for (const m of log.matchAll(/^@@ (ok|not ok) ([\w-]+)(?:[ :]+(.*))?$/gm)) {
    const name = m[2] ?? '?';
    results.record(
      name.startsWith('arm64-16k-') ? name : `${boot.prefix}${name}`,
      m[1] === 'ok',
      m[3] ?? '',
    );
    n++;
  }
  for (const m of log.matchAll(/^@@ (kernel .*|log .*|note .*)$/gm)) results.note(m[1] ?? '');
  return n;
}

/** The 4 KiB pages of the data section that differ from their marker, outside `skip`. */
function changedPages(b: Buffer, skip: (off: number) => boolean): string[] {
  const changed: string[] = [];
  for (let off = DATA_OFFSET; off < REGION_SIZE; off += SUB_PAGE) {
    if (!skip(off) && b.toString('latin1', off, off + 8) !== marker(off)) {
      changed.push(`${off.toString(16)}: ${JSON.stringify(b.toString('latin1', off, off + 8))}`);
    }
  }
  return changed;
}

/** What reached the host after the granule boot. */
function judgeGranuleRegion(path: string): void {
  const b = readFileSync(path);
  const landed = OWN_WRITES.filter((off) => b.toString('latin1', off, off + 8) === OWN_MARK);
  results.record(
    'arm64-16k-own-writes-reach-host',
    landed.length === OWN_WRITES.length,
    `${landed.length} of ${OWN_WRITES.length} writes to the roles' own pages are in the host file`,
  );
  const inChannel = (off: number): boolean => off >= WIN_CHANNEL && off < WIN_CHANNEL + WIN_LEN;
  const changed = changedPages(b, (off) => OWN_WRITES.includes(off) || inChannel(off));
  results.record(
    'arm64-16k-refused-writes-never-reach-host',
    changed.length === 0,
    `4 KiB pages changed outside the allowed writes: ${changed.slice(0, 4).join(', ')}`,
  );
  // each direction: producer index at 0, consumer index one granule later
  const dir = 2 * KPAGE + RING_DATA;
  const idx = (at: number): number => b.readUInt32LE(WIN_CHANNEL + at);
  const [c2pP, c2pC, p2cP, p2cC] = [idx(0), idx(KPAGE), idx(dir), idx(dir + KPAGE)];
  results.record(
    'arm64-16k-granule-channel-indices-reach-host',
    c2pP === c2pC && p2cP === p2cC && c2pP >= RECORDS * 24 && p2cP >= RECORDS * 24,
    `c2p produced ${c2pP} consumed ${c2pC}, p2c produced ${p2cP} consumed ${p2cC}; want equal pairs of at least ${RECORDS * 24}`,
  );
}

/** Boots the guest once on a region of `boot.granule`; records its checks and the region's. */
async function runBoot(work: string, kit: Arm64Kit, initrd: string, boot: Boot): Promise<boolean> {
  const region = join(work, `region-${boot.mode}`);
  writeRegion(region, boot.granule);
  const guest = await bootArm64({
    kit,
    initrd,
    serialLog: join(work, `serial-${boot.mode}.log`),
    append: `sivshm_data=${DATA_OFFSET} sivshm_vm=${VM_ID} sivshm_mode=${boot.mode}`,
    devices: [
      ivshmemPlain(region, REGION_SIZE),
      fwCfg('opt/sivshm/key', { file: join(work, 'key') }),
      fwCfg('opt/sivshm/vm-id', { string: String(VM_ID) }),
    ],
    timeoutMs: GUEST_TIMEOUT_MS,
  });
  const printed = judgeGuest(guest.log, boot);
  const done = /^@@ DONE/m.test(guest.log);
  results.record(
    `${boot.prefix}guest-finished`,
    done && printed > 0,
    `QEMU exited ${guest.code}; last lines: ${guest.log.trim().split('\n').slice(-8).join(' | ')}`,
  );
  if (boot.mode === 'v1') {
    results.record(
      'arm64-16k-v1-refusal-logged',
      guest.log.includes(GRANULE_REFUSAL),
      `the kernel log lacks "${GRANULE_REFUSAL}"`,
    );
    const changed = changedPages(readFileSync(region), () => false);
    results.record(
      'arm64-16k-v1-region-untouched',
      changed.length === 0,
      `4 KiB pages changed: ${changed.slice(0, 4).join(', ')}`,
    );
  } else {
    judgeGranuleRegion(region);
  }
  return done;
}

async function main(): Promise<number> {
  const missing = missingArm64Tools();
  if (missing.length > 0) {
    results.record('arm64-16k-preflight', false, `missing: ${missing.join(', ')}`);
    return results.finish();
  }
  const started = Date.now();
  const kit = fetchArm64Kit();
  results.note(`arm64 kernel package ${kit.kver}, cache ready after ${Date.now() - started} ms`);
  const work = mkdtempSync(join(tmpdir(), 'sivshm-arm64-'));
  let keep = false;
  try {
    const mod = buildSivshmModule(work, kit.kver, KERNEL_SRC, kit.headers);
    const warnings = mod.log.split('\n').filter((l) => /warning:|error:/i.test(l));
    results.record(
      'arm64-16k-module-builds-w1-clean',
      warnings.length === 0,
      warnings.slice(0, 3).join(' | '),
    );
    buildStaticTool('../arm64/pagesize-checks.c', join(work, 'pagesize-checks'), ARM64_CC);
    buildStaticTool('provision-key.c', join(work, 'provision-key'), ARM64_CC);
    const initrd = packArm64Initramfs(
      work,
      kit,
      INIT,
      [mod.ko, kernelModule(kit, 'qemu_fw_cfg.ko.xz')],
      {
        'pagesize-checks': join(work, 'pagesize-checks'),
        'provision-key': join(work, 'provision-key'),
      },
    );
    writeFileSync(join(work, 'key'), randomBytes(32));
    results.note(`guest image built after ${Date.now() - started} ms`);
    let done = true;
    for (const boot of BOOTS) done = (await runBoot(work, kit, initrd, boot)) && done;
    keep = !done || results.failed;
    results.note(`whole tier ${Date.now() - started} ms`);
  } finally {
    if (keep || process.env['SIVSHM_KEEP_WORK'] !== undefined)
      results.note(`work folder kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  return results.finish();
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    results.record('arm64-16k-tier', false, e instanceof Error ? e.message : String(e));
    process.exit(results.finish());
  },
);
