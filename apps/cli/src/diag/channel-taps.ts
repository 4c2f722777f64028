// The two rings of a channel as `FollowingTap`s that follow the channel's moves between windows
// (docs/protocol.md §11), each successor found by its id in the channel table hostd keeps, or by
// the channel's pair once hostd freed a window before the tap read its marker.
import { windowLayout, type ChannelEntry } from '@sivshm/abi';
import {
  ChannelTableReader,
  type RegionLayoutInfo,
  type TapPlacement,
} from '@sivshm/transport-ivshmem';
import { ChannelTap } from './channel-tap.js';

/** Ring direction in a window: 0 is consumer to provider (first), 1 provider to consumer. */
export type DirectionIndex = 0 | 1;

/** Where `direction` of the entry's window lies; undefined for an entry without a valid window. */
export function placementOf(
  region: Uint8Array,
  header: RegionLayoutInfo,
  e: ChannelEntry,
  direction: DirectionIndex,
): TapPlacement | undefined {
  const layout = windowLayout(header.pageGranule);
  const dataSize = layout.dataSizeOf(e.length);
  if (dataSize === undefined) return undefined;
  const dir = layout.directionSize(dataSize);
  const at = e.offset + direction * dir;
  return { direction: region.subarray(at, at + dir), dataSize };
}

/**
 * A tap on `direction` of the entry's window that follows the channel's moves, also when hostd
 * frees a window before the tap read its marker (`ChannelTap`); undefined for an entry without a
 * valid window. `fromStart`: read from index 0 (a channel that has just opened). `table`: where
 * windows are looked up, hostd's control file for a host tool (`HostdTable`); default the
 * region's own table (a region made without hostd).
 */
export function followingTap(
  region: Uint8Array,
  header: RegionLayoutInfo,
  e: ChannelEntry,
  direction: DirectionIndex,
  fromStart = false,
  table: () => ChannelTableReader = constant(new ChannelTableReader(region, header)),
): ChannelTap | undefined {
  const first = placementOf(region, header, e, direction);
  if (first === undefined) return undefined;
  const source = {
    table,
    place: (x: ChannelEntry) => placementOf(region, header, x, direction),
    granule: header.pageGranule,
  };
  return new ChannelTap(source, e, first, fromStart ? 0 : undefined);
}

const constant =
  <T>(x: T): (() => T) =>
  () =>
    x;
