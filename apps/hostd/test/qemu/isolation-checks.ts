/**
 * The three checks of tier 3's isolation scenario (issue 18; isolation-tier.ts runs it), judged
 * from what the guests' apps and root loops printed, hostd's own log and status, and each
 * QEMU's answers on the tier's QMP monitor:
 *
 * - `third-vm-root-cannot-see-device-channel`: while the pair's device channel carries its
 *   marker, root in the third guest scans BAR2 of every ivshmem function it lists and never
 *   finds it, nor ever lists a second function, and its QEMU never holds a sivshm device or
 *   memory object; the same scan finds the region channel's marker there (it reads live shared
 *   memory) and finds the device marker in the provider guest's channel device (the scan works).
 * - `revoke-unplugs-device`: the consumer closes the channel; hostd unplugs the device from both
 *   guests (their PCI lists and both QEMUs lose it, hostd logs it freed and nothing stuck), and
 *   a mapping each app's probe kept of the device window faults.
 * - `device-and-region-services-coexist`: the region channel's calls and events went on in
 *   every phase without an error, and hostd shows it ACTIVE before and after.
 */
import { sleep, type HostdProcess } from '@sivshm/testing';
import type { QemuGuest, TierResults } from '@sivshm/testing/qemu';
import { lastStep, waitStep, type Step } from './guest-steps.js';
import { ISOLATION_SCAN_MARKERS } from './isolation-markers.js';
import {
  covered,
  describeRounds,
  mostFound,
  roundsBetween,
  scanRounds,
  type ScanRound,
} from './isolation-scans.js';

/** What one QEMU holds of sivshm's channel devices. */
export interface QemuView {
  readonly devices: readonly string[];
  readonly memories: readonly string[];
  /** Set when the QEMU did not answer the tier's monitor (then the lists are empty). */
  readonly error?: string;
}

/** What the scenario hands its judges. */
export interface IsolationRun {
  readonly results: TierResults;
  /** provider, consumer, third. */
  readonly guests: readonly [QemuGuest, QemuGuest, QemuGuest];
  readonly hostd: HostdProcess;
  /** Channel ids as the consumer app printed them (decimal). */
  readonly deviceChannel: string;
  readonly regionChannel: string;
  /** The marker traffic: the consumer's steps and each guest's console offsets around it. */
  readonly traffic: {
    readonly flowing: Step | string;
    readonly done: Step | string;
    readonly from: readonly number[];
    readonly to: readonly number[];
  };
  /** Each QEMU's view, every 2 s from the device channel's handshake to the end of its traffic. */
  readonly during: readonly (readonly QemuView[])[];
  readonly duringStatus: Record<string, unknown>;
  /** hostd's status once it no longer lists the device (set by judgeRevoke). */
  afterUnplugStatus?: Record<string, unknown>;
  status(): Promise<Record<string, unknown>>;
  qemuViews(): Promise<QemuView[]>;
}

const STEP_TIMEOUT_MS = 150_000;
/** hostd's unplug: DEVICE_DELETED from both guests under TCG, then object-del. */
const UNPLUG_TIMEOUT_MS = 60_000;
/** A root-loop round under TCG on a loaded host. */
const ROUND_TIMEOUT_MS = 90_000;
const [DEVICE_HEX, REGION_HEX] = ISOLATION_SCAN_MARKERS as [string, string];

const hex16 = (decimal: string): string => BigInt(decimal).toString(16).padStart(16, '0');
const shown = (r: Step | string | undefined): string =>
  typeof r === 'string' ? r : JSON.stringify(r);

/** Records `name` as passed when every condition holds, naming each that does not. */
function judge(
  results: TierResults,
  name: string,
  conditions: ReadonlyArray<readonly [string, boolean]>,
  context: string,
): boolean {
  const failed = conditions.filter(([, ok]) => !ok).map(([what]) => what);
  return results.record(name, failed.length === 0, `not met: ${failed.join('; ')} — ${context}`);
}

export function judgeThirdVm(run: IsolationRun): void {
  const [provider, , third] = run.guests;
  const { from, to, done } = run.traffic;
  const markers = [DEVICE_HEX, REGION_HEX];
  const all = [scanRounds(provider.console()), scanRounds(third.console())];
  const pWin = roundsBetween(all[0]!, from[0]!, to[0]!);
  const tWin = roundsBetween(all[1]!, from[2]!, to[2]!);
  // the region function: the one the provider listed before any channel existed
  const regionBdf = all[0]![0]?.functions[0] ?? '(no round)';
  const tally = typeof done === 'string' ? undefined : (done['tally'] as Record<string, unknown>);
  const dev = `sivshm-dev-${hex16(run.deviceChannel)}`;
  const mem = `sivshm-mem-${hex16(run.deviceChannel)}`;
  const answered = run.during.map((vs) => vs.filter((v) => v.error === undefined));
  const qemuHeld = (i: number, what: string): boolean =>
    answered[i]!.some((v) => v.devices.includes(what) || v.memories.includes(what));
  const thirdQemuAny = answered[2]!.some(
    (v) => v.devices.some((x) => x.startsWith('sivshm-dev-')) || v.memories.length > 0,
  );
  const views = run.during
    .map((vs, i) => {
      const errors = vs.filter((v) => v.error !== undefined).map((v) => v.error);
      return `QEMU ${i + 1}: ${answered[i]!.length} of ${vs.length} views answered${errors.length === 0 ? '' : ` (${[...new Set(errors)].join('; ')})`}, last ${JSON.stringify(answered[i]!.at(-1))}`;
    })
    .join('; ');
  judge(
    run.results,
    'third-vm-root-cannot-see-device-channel',
    [
      [
        'the device channel carried its marker (calls and events, no error)',
        tally !== undefined &&
          Number(tally['events']) > 0 &&
          Number(tally['calls']) > 0 &&
          tally['error'] === null,
      ],

      [
        "≥ 2 of the third guest's root rounds ran during the traffic and scanned every ivshmem function they listed",
        tWin.length >= 2 && tWin.every((r) => covered(r, markers)),
      ],
      [
        'the third guest never listed more than one ivshmem function besides the read-only control device',
        all[1]!.every((r) => r.functions.length <= 1),
      ],
      [
        "no scan in the third guest ever found the device channel's marker",
        mostFound(all[1]!, DEVICE_HEX) === 0,
      ],
      [
        "the third guest's scans found the region channel's marker (they read live shared memory)",
        mostFound(tWin, REGION_HEX) > 0,
      ],
      [
        "the third guest's QEMU answered and never held a sivshm channel device or its memory",
        answered[2]!.length > 0 && !thirdQemuAny,
      ],
      [
        "the provider guest's root found the device marker in its channel device during the traffic",
        pWin.some((r) => covered(r, markers) && r.functions.length === 2) &&
          mostFound(pWin, DEVICE_HEX, (b) => b !== regionBdf) > 0,
      ],
      [
        "the device marker never showed in the provider guest's region BAR",
        mostFound(all[0]!, DEVICE_HEX, (b) => b === regionBdf) === 0,
      ],
      [
        `both pair QEMUs held ${dev} and ${mem} during the traffic`,
        [0, 1].every((i) => qemuHeld(i, dev) && qemuHeld(i, mem)),
      ],
    ],
    `device traffic ${shown(done)}; third guest's rounds during it: ${describeRounds(tWin)}; provider's: ${describeRounds(pWin)}; ${views} ${third.tail(4)}`,
  );
}

/** Polls `ok` every 250 ms for at most `timeoutMs`; whether it held. */
async function until(ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > end) return false;
    await sleep(250);
  }
}

/** The first root-loop round of `g` that started after console offset `from` and ended (bounded). */
async function roundAfter(g: QemuGuest, from: number): Promise<ScanRound | undefined> {
  let found: ScanRound | undefined;
  await until(() => {
    found = scanRounds(g.console()).find((r) => r.start >= from && r.end >= 0);
    return found !== undefined;
  }, ROUND_TIMEOUT_MS);
  return found;
}

/** The app's probe page of `channel`: mapped (and read) before the revoke, still mapped after it. */
function probeHeld(g: QemuGuest, probe: Step | string, channel: string): boolean {
  const before = lastStep(g, 'device-mapped')?.['probe'];
  return (
    typeof probe !== 'string' &&
    typeof before === 'object' &&
    Number(probe['mappings']) >= 1 &&
    (probe['channels'] as string[] | undefined)?.includes(channel) === true
  );
}

/** SIGBUS's exit status through the guest's shell (128 + 7 on x86). */
const SIGBUS_EXIT = 135;

/** Waits for the app's last act: its read of the zapped page must end it by SIGBUS. */
async function faultedAtLastRead(g: QemuGuest): Promise<boolean> {
  const exit = (): number | undefined => {
    const m = /^@@ app-exit (\d+)/m.exec(g.console());
    return m === null ? undefined : Number(m[1]);
  };
  await until(() => exit() !== undefined, STEP_TIMEOUT_MS);
  return (
    lastStep(g, 'touching-revoked-window') !== undefined &&
    lastStep(g, 'revoked-window-read') === undefined &&
    exit() === SIGBUS_EXIT
  );
}

type DeviceRow = { channelId: string };

export async function judgeRevoke(run: IsolationRun): Promise<void> {
  const [provider, consumer] = run.guests;
  const closed = await waitStep(consumer, 'device-closed', STEP_TIMEOUT_MS);
  const cLeft = await waitStep(consumer, 'device-left-pci', STEP_TIMEOUT_MS);
  // at once: the consumer keeps the region service REGION_AFTER_MS longer only
  let st: Record<string, unknown> = {};
  const statusClean = await until(async () => {
    st = await run.status();
    const rows = (st['channelDevices'] as DeviceRow[] | undefined) ?? [];
    return !rows.some((r) => BigInt(r.channelId) === BigInt(run.deviceChannel));
  }, UNPLUG_TIMEOUT_MS);
  run.afterUnplugStatus = st;
  const pLeft = await waitStep(provider, 'device-left-pci', STEP_TIMEOUT_MS);
  const [cProbe, pProbe] = await Promise.all([
    waitStep(consumer, 'device-probe', STEP_TIMEOUT_MS),
    waitStep(provider, 'device-probe', STEP_TIMEOUT_MS),
  ]);
  const held =
    probeHeld(consumer, cProbe, run.deviceChannel) &&
    probeHeld(provider, pProbe, run.deviceChannel) &&
    lastStep(consumer, 'window-read-before-revoke') !== undefined;
  const faulted = (await Promise.all([consumer, provider].map(faultedAtLastRead))).every(Boolean);
  const channelHex = `0x${BigInt(run.deviceChannel).toString(16)}`;
  const freed = await until(
    () =>
      run.hostd.logs.some(
        (l) => l['event'] === 'channel-device-freed' && l['channel'] === channelHex,
      ),
    UNPLUG_TIMEOUT_MS,
  );
  const stuck = run.hostd.logs.filter((l) => String(l['event']).startsWith('device-unplug-stuck'));
  const dev = `sivshm-dev-${hex16(run.deviceChannel)}`;
  let views: QemuView[] = [];
  const qemusClean = await until(async () => {
    views = await run.qemuViews();
    return views.every(
      (v) => v.error === undefined && !v.devices.includes(dev) && v.memories.length === 0,
    );
  }, UNPLUG_TIMEOUT_MS);
  // root's own view, after both apps saw the device go: one ivshmem function left in each
  const [pRound, cRound] = await Promise.all(
    [provider, consumer].map((g) => roundAfter(g, g.console().length)),
  );
  const regionOnly = (r: ScanRound | undefined): boolean => r?.functions.length === 1;
  const regionBdf = scanRounds(provider.console())[0]?.functions[0];
  judge(
    run.results,
    'revoke-unplugs-device',
    [
      ['the consumer closed the device channel', typeof closed !== 'string'],
      [
        "the device left both guests' PCI lists (seen by their apps)",
        typeof cLeft !== 'string' &&
          typeof pLeft !== 'string' &&
          typeof cLeft['left'] !== 'string' &&
          typeof pLeft['left'] !== 'string',
      ],
      [
        "a later root round in each pair guest lists only the region's function",
        regionOnly(pRound) && regionOnly(cRound) && pRound?.functions[0] === regionBdf,
      ],
      [
        'each app mapped and read a page of the device window itself before the revoke and still had that mapping after the unplug',
        held,
      ],
      [
        `each app's last read of that mapping faulted: SIGBUS (exit status ${SIGBUS_EXIT}), the fault sivshm.ko refuses, not SIGSEGV`,
        faulted,
      ],
      [`hostd logged channel-device-freed for ${channelHex}`, freed],
      ['hostd logged no device stuck in a guest', stuck.length === 0],
      [`every QEMU answered and none holds ${dev} or a sivshm memory object any more`, qemusClean],
      ["hostd's status lists no device for the channel", statusClean],
    ],
    `consumer ${shown(closed)} ${shown(cLeft)} ${shown(cProbe)} ${shown(lastStep(consumer, 'device-mapped'))}; provider ${shown(pLeft)} ${shown(pProbe)} ${shown(lastStep(provider, 'device-mapped'))}; app exits ${[consumer, provider].map((g) => /^@@ app-exit \d+/m.exec(g.console())?.[0]).join(', ')}; rounds after: ${describeRounds([pRound, cRound].filter((r) => r !== undefined))}; QEMUs ${JSON.stringify(views)}; stuck ${JSON.stringify(stuck)}; status devices ${JSON.stringify(st['channelDevices'])}`,
  );
  const left = typeof cLeft === 'string' ? undefined : (cLeft['msAfterClose'] as number);
  if (left !== undefined)
    run.results.note(
      `revoke → the device gone from the consumer guest's PCI list: ${left} ms after close() began (close itself ${typeof closed === 'string' ? '?' : String(closed['ms'])} ms)`,
    );
}

type ChannelRow = { channelId: string; state: string; mode?: string };
const channelIn = (st: Record<string, unknown>, id: string): ChannelRow | undefined =>
  ((st['channels'] as ChannelRow[] | undefined) ?? []).find(
    (c) => BigInt(c.channelId) === BigInt(id),
  );

export async function judgeCoexistence(run: IsolationRun): Promise<void> {
  const consumer = run.guests[1];
  const done = await waitStep(consumer, 'region-done', STEP_TIMEOUT_MS);
  const phases =
    typeof done === 'string'
      ? {}
      : ((done['phases'] as Record<string, { calls: number; events: number; errors: string[] }>) ??
        {});
  const after = run.afterUnplugStatus ?? {};
  const devices = (run.duringStatus['channelDevices'] as DeviceRow[] | undefined) ?? [];
  const before = channelIn(run.duringStatus, run.regionChannel);
  const later = channelIn(after, run.regionChannel);
  judge(
    run.results,
    'device-and-region-services-coexist',
    [
      [
        'region calls answered before, during the device traffic and after the unplug',
        ['before', 'device-traffic', 'after'].every((p) => (phases[p]?.calls ?? 0) > 0),
      ],
      [
        'region events arrived during the device traffic and after the unplug',
        ['device-traffic', 'after'].every((p) => (phases[p]?.events ?? 0) > 0),
      ],
      [
        'no region call or event failed in any phase (revoke included)',
        typeof done !== 'string' && Object.values(phases).every((p) => p.errors.length === 0),
      ],
      [
        'hostd showed the region channel ACTIVE in the shared region (no device) during the traffic',
        before?.state === 'ACTIVE' &&
          !devices.some((d) => BigInt(d.channelId) === BigInt(run.regionChannel)),
      ],
      [
        'hostd still showed the region channel ACTIVE once the device was gone from its status',
        later?.state === 'ACTIVE',
      ],
    ],
    `consumer ${shown(done)}; hostd's region channel during ${JSON.stringify(before)}, after ${JSON.stringify(later)} ${lastStep(consumer, 'failed') === undefined ? '' : consumer.tail(6)}`,
  );
}
