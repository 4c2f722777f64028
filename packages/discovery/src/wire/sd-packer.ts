import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdEntry } from './entry.js';
import { optionKey, type SdOption } from './option.js';
import { NO_OPTIONS, type OptionRun } from './option-run.js';
import type { SdEndpointOption } from './sd-endpoint-option.js';
import type { SdFlags } from './sd-flags.js';
import type { SdMessage } from './sd-message.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An entry without its option runs: what a sender states; the packer assigns the runs. */
export type SdEntryFields = DistributiveOmit<SdEntry, 'run1' | 'run2'>;

/** One entry to pack, with the options it references. */
export interface PackEntry {
  readonly entry: SdEntryFields;
  readonly options?: readonly SdOption[];
}

/** What `packSdMessage` needs. */
export interface PackInput {
  readonly sessionId: number;
  readonly flags: SdFlags;
  readonly entries: readonly PackEntry[];
  /** The sender's SD endpoint option; placed as option 0 and referenced by no entry. */
  readonly sdEndpoint?: SdEndpointOption;
}

/**
 * Builds an `SdMessage` from entries and the options each references: identical options are
 * stored once (SD-900), each entry's options become at most two runs of contiguous indices
 * (shared options are reused when they line up; otherwise the entry gets its own contiguous
 * block), and empty runs get index 0. Use it to build every message you send.
 *
 * @example
 * ```ts
 * declare const flags: SdFlags, offer: SdEntryFields;
 * const ep = endpointOption('10.0.0.5', 'udp', 30501);
 * const msg = packSdMessage({ sessionId: 1, flags, entries: [{ entry: offer, options: [ep] }] });
 * const bytes = encodeSdMessage(msg);
 * ```
 */
export function packSdMessage(input: PackInput): SdMessage {
  const options: SdOption[] = [];
  const index = new Map<string, number>();
  if (input.sdEndpoint !== undefined) {
    options.push(input.sdEndpoint);
    // Never reused by entries: the SD endpoint option is not referenced (SD-1084).
  }
  const append = (o: SdOption, key: string): number => {
    options.push(o);
    index.set(key, options.length - 1);
    return options.length - 1;
  };
  const entries = input.entries.map(({ entry, options: refs = [] }): SdEntry => {
    const unique: SdOption[] = [];
    const uniqueKeys: string[] = [];
    const keys = new Set<string>();
    for (const o of refs) {
      const k = optionKey(o);
      if (!keys.has(k)) {
        keys.add(k);
        unique.push(o);
        uniqueKeys.push(k);
      }
    }
    if (unique.length > 30) {
      throw new DiscoveryError(
        'ERR_SD_ENCODE',
        `an entry references ${unique.length} distinct options; two runs of at most 15 hold 30`,
      );
    }
    let runs = runsOf(unique.map((o, j) => index.get(uniqueKeys[j]!) ?? append(o, uniqueKeys[j]!)));
    if (runs === undefined) {
      // Existing copies are scattered: give this entry its own contiguous block.
      const first = options.length;
      for (const o of unique) options.push(o);
      runs = splitBlock(first, unique.length);
    }
    return { ...entry, run1: runs[0], run2: runs[1] } as SdEntry;
  });
  return { sessionId: input.sessionId, flags: input.flags, entries, options };
}

/** Up to two runs (count ≤ 15 each) covering exactly `indices`, or undefined. */
function runsOf(indices: number[]): [OptionRun, OptionRun] | undefined {
  if (indices.length === 0) return [NO_OPTIONS, NO_OPTIONS];
  const sorted = indices.length === 1 ? indices : [...indices].sort((a, b) => a - b);
  const ranges: OptionRun[] = [];
  let start = sorted[0] ?? 0;
  let prev = start;
  for (let j = 1; j < sorted.length; j++) {
    const i = sorted[j]!;
    if (i !== prev + 1) {
      ranges.push({ index: start, count: prev - start + 1 });
      start = i;
    }
    prev = i;
  }
  ranges.push({ index: start, count: prev - start + 1 });
  const [a, b] = ranges;
  if (ranges.length > 2 || a === undefined) return undefined;
  if (a.count > 15 || (b?.count ?? 0) > 15 || a.index > 0xff || (b?.index ?? 0) > 0xff) {
    return ranges.length === 1 && a.count <= 30 && a.index + 15 <= 0xff
      ? splitBlock(a.index, a.count)
      : undefined;
  }
  return [a, b ?? NO_OPTIONS];
}

function splitBlock(first: number, count: number): [OptionRun, OptionRun] {
  if (count === 0) return [NO_OPTIONS, NO_OPTIONS];
  const c1 = Math.min(count, 15);
  const rest = count - c1;
  return [
    { index: first, count: c1 },
    rest === 0 ? NO_OPTIONS : { index: first + c1, count: rest },
  ];
}
