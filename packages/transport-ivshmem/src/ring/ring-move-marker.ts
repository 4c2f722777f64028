import { recordSize } from '@sivshm/abi';

/**
 * The move marker (docs/protocol.md §11.3): the last thing a producer writes into a ring before
 * it goes on in the same direction of its channel's successor window. Its message id is in
 * service `0xFFFF`, which no real record may use, so a reader never mistakes one for the other.
 */
export const MoveMarkerLayout = {
  messageId: 0xffff_fffe,
  /** The SOME/IP length field: 8 + the 8-byte successor channel id. */
  length: 16,
  /** Offset of the successor channel id (u64 LE) in the marker. */
  successorOffset: 16,
  /** Bytes the marker takes in the ring. */
  size: recordSize(8),
} as const;
