// `sivshm inspect` at work: maps a region read-only and prints its header, channel table and
// ring states. Loaded by the command's action only (commands/inspect.ts).
import { inspectRegion, unmap, type RegionReport, type RingState } from '@sivshm/transport-ivshmem';
import { channelIdText, id16 } from '../io/id-text.js';
import { HostdTable } from '../diag/hostd-table.js';
import { mapRegionReadOnly } from '../io/region-file.js';

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;
const MODES = ['plain', 'mac', 'aead'];

function ring(name: string, r: RingState | undefined): string {
  if (r === undefined) return `    ${name}: (no ring)`;
  const flags = [
    r.parked ? 'consumer parked' : '',
    r.producerClosed ? 'producer closed' : '',
    r.consumerClosed ? 'consumer closed' : '',
    r.violation ? 'VIOLATION used > capacity' : '',
  ].filter((x) => x !== '');
  return `    ${name}: prod ${r.producerIndex} cons ${r.consumerIndex} used ${r.used}/${r.capacity} B heartbeat ${r.heartbeat}${flags.length > 0 ? `  [${flags.join(', ')}]` : ''}`;
}

function human(path: string, r: RegionReport): string {
  const h = r.header;
  const lines = [
    `region ${path}: layout v1, ${h.regionSize} B, epoch ${h.epoch}`,
    `  header  0x0 (${h.headerSize} B)`,
    `  control ${hex(h.controlOffset)} (${h.controlSize} B): ${h.channelCapacity} entries of ${h.channelEntrySize} B`,
    `  data    ${hex(h.dataOffset)} (${h.dataSize} B)`,
    `channels: ${r.channels.length}`,
  ];
  for (const c of r.channels) {
    const e = c.entry;
    lines.push(
      `  [${c.index}] channel ${channelIdText(e.channelId)} ${e.state} gen ${e.generation}: service ${id16(e.service)} instance ${id16(e.instance)} v${e.major}, ` +
        `mode ${MODES[e.mode] ?? e.mode}, VM ${e.consumerVm} → VM ${e.providerVm}, window ${hex(e.offset)} +${e.length} B`,
    );
    if (c.problem !== undefined) lines.push(`    problem: ${c.problem}`);
    else lines.push(ring('c2p', c.c2p), ring('p2c', c.p2c));
  }
  return lines.join('\n');
}

/** Prints the report of region file `path`, as text or (--json) one JSON object. */
export function inspect(path: string, o: { json?: boolean }): void {
  const m = mapRegionReadOnly(path);
  let hostd: HostdTable | undefined;
  try {
    const region = new Uint8Array(m.shared);
    // The header and table hostd keeps in the control file, not the region's mirror (§10.4).
    hostd = new HostdTable(path, region);
    const report = inspectRegion(region, hostd);
    if (o.json === true) {
      // Channel ids as hostd's status writes them (0x hex); other 64-bit values (the epoch) in
      // decimal; 16-bit ids stay numbers, as in `sivshm status --json`.
      const json = (k: string, v: unknown): unknown =>
        typeof v === 'bigint' ? (k === 'channelId' ? channelIdText(v) : v.toString()) : v;
      console.log(JSON.stringify(report, json, 2));
    } else console.log(human(path, report));
  } finally {
    hostd?.close();
    unmap(m.handle);
  }
}
