/**
 * What each selftest guest of the kernel-module tier must report, in the selftest's own names
 * (selftest.c prints `@@ ok <name>` / `@@ not ok <name>: reason`), and how the host judges a
 * guest's console against that list.
 */
import type { GuestExit, TierResults } from '@sivshm/testing/qemu';
import type { SelftestMode } from './hostd-stand-in.js';

/** What each guest must report, in the selftest's own names. */
export const EXPECTED: Record<SelftestMode, string[]> = {
  consumer: [
    'insmod',
    'set-key-needs-root',
    'set-key',
    'set-key-only-once',
    'dmesg-clean',
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
    'read-poll-need-a-grant',
    'cross-file-overlap-refused',
    'provider-role-peer-pages-read-only',
    'mremap-move-refused',
    'process-vm-writev-to-peer-page-fails',
    'fd-passed-by-scm-rights-cannot-map',
    'revoke-does-not-hold-lock-across-user-copy',
    'revoke-vs-grant-race',
    'refused-revoke-returns-no-receipt',
    'revoke-receipt-verifies',
    'grant-after-revoke-refused',
    'unbind-with-live-mapping',
    'state-changing-ioctl-needs-write-mode',
    'unknown-ioctl-enotty-before-opener-check',
    'unprivileged-consumer-confined',
    'stale-epoch-window-killed',
  ],
  provider: [
    'insmod',
    'set-key-needs-root',
    'set-key',
    'set-key-only-once',
    'dmesg-clean',
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
    'dmesg-clean',
    'doorbell-needs-a-grant',
    'doorbell-guest-grant',
    'doorbell-peer-ready',
    'doorbell-ring',
    'doorbell-peer-woke',
    'doorbell-ring-vector-one',
    'doorbell-to-ungranted-route-refused',
    'doorbell-route-gone-after-revoke',
  ],
  devices: [
    'insmod',
    'dmesg-clean',
    'control-and-two-channel-devices-bound',
    'header-read-from-read-only-control-device',
    'region-grant-works-beside-channel-devices',
    'device-grant-maps-its-device-window',
    'device-window-peer-pages-read-only',
    'device-window-only-at-devmap-base',
    'device-grant-without-device-nodev',
    'device-grant-other-window-refused',
    'device-grant-other-vm-role-refused',
    'one-device-window-per-file',
    'revoke-device-channel-zaps-its-mapping',
    'unbind-channel-device-zaps-its-mappings',
    'rebound-channel-device-grants-again',
    'hotplugged-channel-device-grants',
    'hot-unplug-zaps-device-mappings',
  ],
  wait: [
    'insmod',
    'set-key-needs-root',
    'set-key',
    'set-key-only-once',
    'dmesg-clean',
    'doorbell-device-has-msix',
    'no-event-before-doorbell',
    'doorbell-guest-grant',
    'doorbell-wakes-poll',
    'doorbell-read-reports-vector',
    'read-sees-only-granted-vectors',
    'doorbell-vectors-kept-apart',
  ],
};

/**
 * Records each check the selftest guest `g` reported, a check it should have reported but did
 * not, and that it powered off.
 */
export function judgeSelftest(results: TierResults, g: SelftestMode, r: GuestExit): void {
  const seen = new Map<string, string | undefined>();
  for (const line of r.log.split('\n')) {
    const m = /^@@ (ok|not ok) ([\w-]+)(?:: (.*))?$/.exec(line.trim());
    if (m?.[2] !== undefined) seen.set(m[2], m[1] === 'ok' ? undefined : (m[3] ?? 'failed'));
  }
  const where = `(serial log: ${r.logPath})`;
  for (const name of new Set([...EXPECTED[g], ...seen.keys()])) {
    if (!seen.has(name)) {
      results.record(`${g}/${name}`, false, `not reported by the guest, exit ${r.code} ${where}`);
    } else {
      const why = seen.get(name);
      results.record(`${g}/${name}`, why === undefined, `${why ?? ''} ${where}`);
    }
  }
  results.record(
    `${g}/guest-powered-off`,
    r.code === 0 && r.log.includes('@@ DONE'),
    `qemu exit ${r.code} ${where}`,
  );
}

/** Records whether sivshm.ko's grant check agreed with every one of core's `total` vectors. */
export function judgeVectors(results: TierResults, r: GuestExit, total: number): void {
  const lines = r.log.split('\n').filter((l) => l.startsWith('@@ vector '));
  const bad = lines.filter((l) => l.startsWith('@@ vector not ok'));
  const summary = lines.find((l) => l.startsWith('@@ vector summary'));
  results.record(
    'kernel-grant-check-agrees-with-core-vectors',
    bad.length === 0 && summary === `@@ vector summary ${total}/${total} agree`,
    `${summary ?? 'no summary'}; ${bad.map((l) => l.slice(10)).join('; ')} (serial log: ${r.logPath})`,
  );
}
