/**
 * The Node guest of the kernel-module tier: an initramfs layer with Node, the transport's addon
 * and one bundle of guest-runner.ts, transport-ivshmem's `kernel-device.int.spec` and
 * KernelDevice, so the ChannelDevice contract suite runs against the real `/dev/sivshm`; and
 * how the host judges what the guest reported.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compiledFile, siblingEntry } from '@sivshm/testing';
import {
  addNodeApp,
  packInitramfs,
  transportAddon,
  type GuestExit,
  type TierResults,
} from '@sivshm/testing/qemu';

/** The runner beside this module, in the form this module runs in (compiled or source). */
const RUNNER = siblingEntry(import.meta.url, 'guest-runner').script;

/**
 * Builds the Node guest's layer, the same for every kernel: `/bin/node` and
 * `/app/dist/{runner,spec,kernel-device}.js`, packed as `<work>/node-layer.cpio.gz` (the guest
 * unpacks it after a kernel's base image). Returns why it cannot when a piece is missing (then
 * the suite is reported as skipped with that reason).
 */
export async function buildNodeLayer(
  work: string,
): Promise<{ layer: string } | { missing: string }> {
  const transport = '@sivshm/transport-ivshmem';
  const entries = {
    runner: RUNNER,
    spec: compiledFile(transport, 'test/device/kernel-device.int.spec.ts'),
    'kernel-device': compiledFile(transport, 'src/device/kernel-device.ts'),
  };
  for (const f of [transportAddon(), ...Object.values(entries)]) {
    if (!existsSync(f)) return { missing: `${f} (run \`npm run build\` at the root first)` };
  }
  const dir = join(work, 'node-layer');
  try {
    await addNodeApp(dir, entries);
  } catch (e) {
    return { missing: `esbuild or a piece of the bundle (${(e as Error).message})` };
  }
  const layer = join(work, 'node-layer.cpio.gz');
  packInitramfs(dir, layer);
  return { layer };
}

/** The Node guest's initramfs in `work`: a kernel's `baseInitrd`, then the Node `layer`. */
export function nodeInitrd(work: string, baseInitrd: string, layer: string): string {
  const initrd = join(work, 'initramfs-node.cpio.gz');
  // The kernel unpacks concatenated archives in order: the base rootfs, then this layer.
  writeFileSync(initrd, Buffer.concat([readFileSync(baseInitrd), readFileSync(layer)]));
  return initrd;
}

/**
 * Contract tests whose assertion sivshm.ko rightly refuses, keyed by test title, with the exact
 * failure they must show and why. They are reported as skipped with that reason; one that
 * passes or fails any other way is `not ok`, so an entry cannot outlive its cause.
 */
const KNOWN_DIVERGENCES: Record<string, { failure: RegExp; reason: string }> = {};

/** Records each contract test the Node guest reported, and that all of them were. */
export function judgeNodeGuest(results: TierResults, r: GuestExit): void {
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
      if (m[1] === 'not ok' && known.failure.test(m[3] ?? '')) results.skip(name, known.reason);
      else
        results.record(
          name,
          false,
          `a known divergence (${known.failure}) did not show: ${m[1]} ${m[3] ?? ''} ${where}`,
        );
    } else if (m[1] === 'skip') {
      skipped++;
      results.skip(name, `${m[3] ?? 'pending'} ${where}`);
    } else {
      results.record(name, m[1] === 'ok', `${m[3] ?? 'failed'} ${where}`);
    }
  }
  results.record(
    'kernel-device/contract-suite-ran-in-guest',
    declared !== undefined && declared > 0 && reported === declared && skipped === 0 && done,
    `the guest declared ${declared ?? 'no'} tests, reported ${reported}, skipped ${skipped}, ` +
      `${done ? 'finished' : 'did not finish'}; exit ${r.code} ${where}`,
  );
  results.record(
    'kernel-device/guest-powered-off',
    r.code === 0 && r.log.includes('@@ DONE'),
    `qemu exit ${r.code} ${where}`,
  );
}
