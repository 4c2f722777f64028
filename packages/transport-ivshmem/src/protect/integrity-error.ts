import { TransportError } from '../errors/transport-error.js';
import type { RecordDirection } from './record-format.js';

/** Why a protected record was refused. */
export type IntegrityFailure = 'short' | 'replayed' | 'out-of-order' | 'bad-tag';

/**
 * A protected record failed its check (`ERR_INTEGRITY`): it was not delivered, and the channel
 * that received it ends (`failed`) so the runtime tears it down and builds a fresh one.
 */
export class IntegrityError extends TransportError {
  readonly channelId: bigint;
  /** The direction of the refused record (the peer's sending direction). */
  readonly direction: RecordDirection;
  /** The sequence number the record carried (or, when too short to carry one, the expected one). */
  readonly sequence: number;
  readonly reason: IntegrityFailure;

  constructor(o: {
    channelId: bigint;
    direction: RecordDirection;
    sequence: number;
    reason: IntegrityFailure;
    detail: string;
  }) {
    super(
      'ERR_INTEGRITY',
      `record ${o.sequence} on channel ${o.channelId} (${o.direction}) refused (${o.reason}): ${o.detail}`,
    );
    this.channelId = o.channelId;
    this.direction = o.direction;
    this.sequence = o.sequence;
    this.reason = o.reason;
  }
}
