import { RingPageLayout, windowLayout, type ChannelEntry } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { ChannelTableReader } from './channel-table-reader.js';
import { readRegionHeader, type RegionHeaderInfo } from './region-header.js';

/** The observable state of one ring direction, read without touching it. */
export interface RingState {
  /** Producer index (free-running bytes). */
  readonly producerIndex: number;
  /** Consumer index (free-running bytes). */
  readonly consumerIndex: number;
  /** Bytes published and not yet released: `(producer − consumer) mod 2^32`. */
  readonly used: number;
  readonly capacity: number;
  readonly heartbeat: number;
  /** The consumer's parked word is set (it sleeps on its doorbell). */
  readonly parked: boolean;
  readonly producerClosed: boolean;
  readonly consumerClosed: boolean;
  /** `used > capacity`: the indices break the ring's invariant (a hostile or corrupt peer). */
  readonly violation: boolean;
}

/** One channel as `sivshm inspect` shows it. */
export interface InspectedChannel {
  readonly index: number;
  readonly entry: ChannelEntry;
  /** Undefined when the entry's window is not a valid layout (reported in `problem`). */
  readonly c2p?: RingState;
  readonly p2c?: RingState;
  readonly problem?: string;
}

/** What `inspectRegion` reports. */
export interface RegionReport {
  readonly header: RegionHeaderInfo;
  readonly channels: readonly InspectedChannel[];
}

/** `page`: bytes of a control page (the region's page granule). */
function ringState(view: DataView, base: number, dataSize: number, page: number): RingState {
  const P = RingPageLayout.producer;
  const C = RingPageLayout.consumer;
  const producerIndex = view.getUint32(base + P.index, true);
  const consumerIndex = view.getUint32(base + page + C.index, true);
  const used = (producerIndex - consumerIndex) >>> 0;
  return {
    producerIndex,
    consumerIndex,
    used,
    capacity: dataSize,
    heartbeat: view.getUint32(base + P.heartbeat, true),
    parked: view.getUint32(base + page + C.parked, true) !== 0,
    producerClosed: (view.getUint32(base + P.flags, true) & RingPageLayout.FLAG_CLOSED) !== 0,
    consumerClosed:
      (view.getUint32(base + page + C.flags, true) & RingPageLayout.FLAG_CLOSED) !== 0,
    violation: used > dataSize,
  };
}

/**
 * Where hostd keeps the header and table of a region: its control file (docs/protocol.md §10.4),
 * which a host tool reads instead of the region's mirror that any VM can overwrite.
 */
export interface HostdTableSource {
  readonly header: RegionHeaderInfo;
  table(): ChannelTableReader;
}

/**
 * Reads a region read-only: the header (validated), every used channel-table entry, and both
 * ring states of each channel; header and table from `hostd` when given (the control file), else
 * from the region itself. Hostile contents never throw past the header: a bad window is
 * reported in `problem`, out-of-range indices as `violation`.
 *
 * @example
 * ```ts
 * declare const size: number; // the region file's size
 * const m = mapFile('/dev/shm/sivshm-demo', 0, size);
 * const report = inspectRegion(new Uint8Array(m.shared));
 * ```
 */
export function inspectRegion(region: Uint8Array, hostd?: HostdTableSource): RegionReport {
  const header = hostd?.header ?? readRegionHeader(region);
  const table = hostd?.table() ?? new ChannelTableReader(region, header);
  const view = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const channels: InspectedChannel[] = [];
  const layout = windowLayout(header.pageGranule);
  for (const { index, entry } of table.entries()) {
    const dataSize = layout.dataSizeOf(entry.length);
    if (dataSize === undefined || entry.offset + entry.length > region.byteLength) {
      channels.push({
        index,
        entry,
        problem: `window of ${entry.length} B at ${entry.offset} is not a valid window`,
      });
      continue;
    }
    const dir = layout.directionSize(dataSize);
    channels.push({
      index,
      entry,
      c2p: ringState(view, entry.offset, dataSize, layout.consumerPage),
      p2c: ringState(view, entry.offset + dir, dataSize, layout.consumerPage),
    });
  }
  if (header.regionSize !== region.byteLength) {
    throw new TransportError('ERR_REGION', 'region size changed while reading');
  }
  return { header, channels };
}
