import { statSync } from 'node:fs';
import { mapFile, unmap } from '../../src/native/map-file.js';
import { ChannelTableReader } from '../../src/region/channel-table-reader.js';
import { readRegionHeader } from '../../src/region/region-header.js';
import { windowOf, type WindowMemory } from '../../src/ring/ring-views.js';

/** A channel's window in a mapped region file, and the mapping to give back. */
export interface AttachedWindow {
  readonly window: WindowMemory;
  /** Unmaps the region; the window is unusable afterwards. Idempotent. */
  unmap(): void;
}

/**
 * Maps the region file at `path` and returns the window of channel `channelId` (a decimal
 * string, as `ShmChannelSpec` carries it), for tests and benchmarks that play one side of a
 * channel hostd would otherwise hand out. Throws when the channel table has no such channel.
 *
 * @example
 * ```ts
 * const a = attachWindow(host.spec.path, host.spec.channelId);
 * const channel = new Channel({ window: a.window, role: 'consumer', ... });
 * ```
 */
export function attachWindow(path: string, channelId: string): AttachedWindow {
  const m = mapFile(path, 0, statSync(path).size, { writable: true });
  let mapped = true;
  const release = (): void => {
    if (mapped) unmap(m.handle);
    mapped = false;
  };
  try {
    const shared = new Uint8Array(m.shared);
    const found = new ChannelTableReader(shared, readRegionHeader(shared)).find(BigInt(channelId));
    if (found === undefined) throw new Error(`channel ${channelId} is not in the table of ${path}`);
    const { offset, length } = found.entry;
    return {
      window: windowOf({ shared, bulk: new Uint8Array(m.bulk) }, offset, length),
      unmap: release,
    };
  } catch (e) {
    release();
    throw e;
  }
}
