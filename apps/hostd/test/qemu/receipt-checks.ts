/**
 * Tier 3's revoke-receipt checks (issue 12): the consumer guest ran two hostile apps before the
 * real consumer (guest-receipt-skipper.ts), each acknowledging hostd's REVOKE without passing it
 * to sivshm.ko, one with a forged receipt and one with none. What the real hostd did about it
 * is read from its own output: its log (the refusal and the quarantine, no release, no later
 * channel on that memory), its status (the refusals counted for the VM, the windows
 * quarantined) and its region file (the window's bytes still there: not zeroed as a released
 * window would be).
 */
import { openSync, readSync, closeSync } from 'node:fs';
import type { Deployment, HostdProcess } from '@sivshm/testing';
import type { QemuGuest, TierResults } from '@sivshm/testing/qemu';
import { SKIPPER_ROLE, type SkippedReceipt } from './guest-receipt-skipper.js';
import { steps } from './guest-steps.js';

/** The cluster VM, where both hostile apps ran. */
const CONSUMER_VM = 2;

/** The checks' names (issue 12) and the refusal detail hostd logs for each kind. */
const CHECKS: ReadonlyArray<{ kind: SkippedReceipt; name: string; detail: string }> = [
  {
    kind: 'forged',
    name: 'consumer/forged-revoke-receipt-refused',
    detail: 'receipt does not verify',
  },
  { kind: 'none', name: 'consumer/no-receipt-keeps-window-quarantined', detail: 'no receipt' },
];

/** The status fields these checks read. */
export interface QuarantineStatus {
  readonly quarantinedWindows: number;
  readonly region: { quarantinedBytes: number };
  readonly vms: ReadonlyArray<{ id: number; revokeReceiptsRefused: number }>;
}

type LogLine = Record<string, unknown>;

const num = (v: unknown): number => Number(String(v));

/** Whether `len` bytes of the region file at `offset` are all zero. */
function allZero(regionPath: string, offset: number, len: number): boolean {
  const buf = Buffer.alloc(len);
  const fd = openSync(regionPath, 'r');
  try {
    readSync(fd, buf, 0, len, offset);
  } finally {
    closeSync(fd);
  }
  return buf.every((b) => b === 0);
}

/** What went wrong for one hostile app's channel (empty: hostd kept it quarantined). */
function problemsOf(
  kind: SkippedReceipt,
  detail: string,
  guest: QemuGuest,
  logs: readonly LogLine[],
  regionPath: string,
): { problems: string[]; length: number } {
  const acked = steps(guest).find((s) => s.step === 'skipper-acked' && s['receipt'] === kind);
  if (acked === undefined)
    return { problems: [`no skipper-acked step from ${SKIPPER_ROLE[kind]}`], length: 0 };
  const dec = String(acked['channelId']);
  const skipped = (acked['skipped'] as unknown[] | undefined)?.map(String) ?? [];
  const hex = `0x${BigInt(dec).toString(16)}`;
  const at = (event: string, f: (l: LogLine) => boolean, from = 0): number => {
    const i = logs.slice(from).findIndex((l) => l['event'] === event && f(l));
    return i < 0 ? -1 : from + i;
  };
  const problems: string[] = [];
  if (!skipped.includes(dec)) problems.push(`the app never got the REVOKE of channel ${hex}`);
  const refused = at(
    'revoke-receipt-refused',
    (l) => num(l['vm']) === CONSUMER_VM && String(l['channel']) === dec,
  );
  if (refused < 0 || logs[refused]?.['detail'] !== detail)
    problems.push(`hostd logged no revoke-receipt-refused '${detail}' for ${hex}`);
  const active = logs[at('channel-active', (l) => l['channel'] === hex)];
  const q = at(
    'channel-quarantined',
    (l) => l['channel'] === hex && num(l['holder']) === CONSUMER_VM,
  );
  if (active === undefined || q < 0) {
    problems.push(
      `hostd logged ${active === undefined ? 'no channel-active' : 'no channel-quarantined (holder 2)'} for ${hex}`,
    );
    return { problems, length: 0 };
  }
  const offset = num(active['offset']);
  const length = num(active['length']);
  // after the quarantine: an earlier channel on the same memory may have been freed before
  if (at('channel-freed', (l) => l['channel'] === hex, q) >= 0) problems.push(`hostd freed ${hex}`);
  if (at('quarantine-released', (l) => num(l['offset']) === offset, q) >= 0)
    problems.push(`hostd released the quarantine at ${offset}`);
  const later = logs.slice(q + 1).filter((l) => l['event'] === 'channel-active');
  const reusedBy = later.filter(
    (l) => num(l['offset']) < offset + length && num(l['offset']) + num(l['length']) > offset,
  );
  if (later.length === 0) problems.push('no channel was made after the quarantine (nothing shown)');
  if (reusedBy.length > 0)
    problems.push(
      `window [${offset}, +${length}) handed to ${reusedBy.map((l) => String(l['channel'])).join(', ')}`,
    );
  if (allZero(regionPath, offset, length))
    problems.push(
      `window [${offset}, +${length}) is all zeros in the region file (zeroed as if released)`,
    );
  return { problems, length };
}

/**
 * Records `forged-revoke-receipt-refused` and `no-receipt-keeps-window-quarantined`; call it
 * once the real consumer's channels exist (so "not reused" has later channels to look at).
 */
export function judgeReceiptChecks(
  results: TierResults,
  d: Deployment,
  hostd: HostdProcess,
  consumer: QemuGuest,
  st: QuarantineStatus,
): void {
  const outcomes = CHECKS.map((c) => ({
    ...c,
    ...problemsOf(c.kind, c.detail, consumer, hostd.logs, d.regionPath),
  }));
  const refusals = st.vms.find((v) => v.id === CONSUMER_VM)?.revokeReceiptsRefused;
  const bytes = outcomes.reduce((s, o) => s + o.length, 0);
  const counted =
    refusals === CHECKS.length &&
    st.quarantinedWindows >= CHECKS.length &&
    st.region.quarantinedBytes >= bytes;
  for (const o of outcomes) {
    const problems = [...o.problems];
    if (!counted)
      problems.push(
        `status: VM ${CONSUMER_VM} revokeReceiptsRefused ${String(refusals)} (want ${CHECKS.length}), ${st.quarantinedWindows} windows / ${st.region.quarantinedBytes} bytes quarantined (want ≥ ${CHECKS.length} / ${bytes})`,
      );
    results.record(o.name, problems.length === 0, problems.join('; '));
  }
}
