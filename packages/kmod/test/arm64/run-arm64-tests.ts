/**
 * The arm64 16 KiB-page tier (`npm run test:vm:arm64 -w @sivshm/kmod`).
 *
 * On a kernel whose pages are 16 KiB, one page holds four 4 KiB pages of the layout v1 window,
 * of both roles. This tier boots such a kernel (Debian's arm64-16k flavour, TCG) with
 * `ivshmem-plain` on a host region file whose every 4 KiB page of the data section carries a
 * marker, loads the cross-built sivshm.ko, provisions K_vm from fw_cfg (provision-key.c, as the
 * x86 tier does) and runs `pagesize-checks.c`, which signs its own grants with K_vm and checks
 * which pages map, which writes land and which fault. After the guest the host checks the region
 * file: the writes the guest was allowed reached it, the refused ones did not.
 * Prints `ok <name>` / `not ok <name>: reason` and a final `N passed, N failed, N skipped` line.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegionHeaderLayout } from '@sivshm/abi';
import { TierResults, fwCfg, initScript, ivshmemPlain, kmodRoot } from '@sivshm/testing/qemu';
import {
  bootArm64,
  crossBuildModule,
  crossBuildTool,
  fetchArm64Kit,
  kernelModule,
  missingArm64Tools,
  packArm64Initramfs,
} from './arm64-guest.js';

const REGION_SIZE = 4 << 20;
const CONTROL_OFFSET = 4096;
const DATA_OFFSET = 64 * 1024;
/** pagesize-checks.c signs its grants for this epoch. */
const EPOCH = 9n;
const VM_ID = 3;
const SUB_PAGE = 4096;
const KPAGE = 16 * 1024;
/** The windows of pagesize-checks.c: consumer of channel 1, provider of channel 2. */
const WIN_CONSUMER = DATA_OFFSET;
const WIN_PROVIDER = DATA_OFFSET + 128 * 1024;
const OWN_MARK = 'own-16k!';
/** Where pagesize-checks.c writes OWN_MARK: a page all of whose 4 KiB pages are the role's. */
const OWN_WRITES = [WIN_CONSUMER + KPAGE, WIN_PROVIDER + 4 * KPAGE];
const GUEST_TIMEOUT_MS = 240_000;
/** What sivshm_map.c logs once when a writable mapping holds a page shared by both roles. */
const SHARED_PAGE_NOTICE = 'sivshm: 16 KiB pages: a page holding 4 KiB layout pages of both roles';

/** Kernel sources to build; SIVSHM_ARM64_KERNEL_SRC points elsewhere for mutation runs. */
const KERNEL_SRC = process.env['SIVSHM_ARM64_KERNEL_SRC'] ?? join(kmodRoot(), 'kernel');

const results = new TierResults();
const prefix = (name: string): string =>
  name.startsWith('arm64-16k-') ? name : `arm64-16k-${name}`;

const INIT = initScript(`
echo "@@ kernel $(uname -r) $(uname -m), up at $(cut -d' ' -f1 /proc/uptime)s"
insmod /lib/modules/qemu_fw_cfg.ko
if insmod /lib/modules/sivshm.ko; then echo "@@ ok insmod"; else echo "@@ not ok insmod: failed"; fi
/bin/provision-key
/bin/pagesize-checks /sys/firmware/qemu_fw_cfg/by_name/opt/sivshm "$(arg sivshm_data)" "$(arg sivshm_vm)"
w=$(dmesg | grep -E "WARNING:|BUG:|Call Trace:" | head -3 | tr '\\n' ' ')
if [ -z "$w" ]; then echo "@@ ok dmesg-clean"; else echo "@@ not ok dmesg-clean: $w"; fi
dmesg | sed -n 's/.*\\(sivshm: .*\\)/@@ log \\1/p'
`);

/** The marker of the 4 KiB page at region offset `off`: its offset as 8 hex digits. */
const marker = (off: number): string => off.toString(16).padStart(8, '0');

/** A region file with a layout v1 header and a marker in every 4 KiB page of the data section. */
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
  for (let off = DATA_OFFSET; off < REGION_SIZE; off += SUB_PAGE)
    b.write(marker(off), off, 'latin1');
  writeFileSync(path, b);
}

/** Records the guest's `@@ ok` / `@@ not ok` lines; returns how many it printed. */
function judgeGuest(log: string): number {
  let n = 0;
  for (const m of log.matchAll(/^@@ (ok|not ok) ([\w-]+)(?:[ :]+(.*))?$/gm)) {
    results.record(prefix(m[2] ?? '?'), m[1] === 'ok', m[3] ?? '');
    n++;
  }
  for (const m of log.matchAll(/^@@ (kernel .*|log .*|note .*)$/gm)) results.note(m[1] ?? '');
  return n;
}

/** What reached the host: the allowed writes, and nothing else in the data section. */
function judgeRegion(path: string): void {
  const b = readFileSync(path);
  const landed = OWN_WRITES.filter((off) => b.toString('latin1', off, off + 8) === OWN_MARK);
  results.record(
    'arm64-16k-own-writes-reach-host',
    landed.length === OWN_WRITES.length,
    `${landed.length} of ${OWN_WRITES.length} writes to the roles' own pages are in the host file`,
  );
  const changed: string[] = [];
  for (let off = DATA_OFFSET; off < REGION_SIZE; off += SUB_PAGE) {
    if (!OWN_WRITES.includes(off) && b.toString('latin1', off, off + 8) !== marker(off)) {
      changed.push(`${off.toString(16)}: ${JSON.stringify(b.toString('latin1', off, off + 8))}`);
    }
  }
  results.record(
    'arm64-16k-refused-writes-never-reach-host',
    changed.length === 0,
    `4 KiB pages changed outside the allowed writes: ${changed.slice(0, 4).join(', ')}`,
  );
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
    const mod = crossBuildModule(work, kit, KERNEL_SRC);
    const warnings = mod.log.split('\n').filter((l) => /warning:|error:/i.test(l));
    results.record(
      'arm64-16k-module-builds-w1-clean',
      warnings.length === 0,
      warnings.slice(0, 3).join(' | '),
    );
    crossBuildTool('arm64/pagesize-checks.c', join(work, 'pagesize-checks'));
    crossBuildTool('vm/provision-key.c', join(work, 'provision-key'));
    const initrd = packArm64Initramfs(
      work,
      kit,
      INIT,
      { sivshm: mod.ko, qemu_fw_cfg: kernelModule(kit, 'qemu_fw_cfg.ko.xz') },
      {
        'pagesize-checks': join(work, 'pagesize-checks'),
        'provision-key': join(work, 'provision-key'),
      },
    );
    const region = join(work, 'region');
    writeRegion(region);
    writeFileSync(join(work, 'key'), randomBytes(32));
    results.note(`guest image built after ${Date.now() - started} ms`);
    const guest = await bootArm64({
      kit,
      initrd,
      serialLog: join(work, 'serial.log'),
      append: `sivshm_data=${DATA_OFFSET} sivshm_vm=${VM_ID}`,
      devices: [
        ivshmemPlain(region, REGION_SIZE),
        fwCfg('opt/sivshm/key', { file: join(work, 'key') }),
        fwCfg('opt/sivshm/vm-id', { string: String(VM_ID) }),
      ],
      timeoutMs: GUEST_TIMEOUT_MS,
    });
    const printed = judgeGuest(guest.log);
    results.record(
      'arm64-16k-shared-page-noticed',
      guest.log.includes(SHARED_PAGE_NOTICE),
      `the kernel log lacks "${SHARED_PAGE_NOTICE}"`,
    );
    const done = /^@@ DONE/m.test(guest.log);
    results.record(
      'arm64-16k-guest-finished',
      done && printed > 0,
      `QEMU exited ${guest.code}; last lines: ${guest.log.trim().split('\n').slice(-8).join(' | ')}`,
    );
    keep = !done || results.failed;
    judgeRegion(region);
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
