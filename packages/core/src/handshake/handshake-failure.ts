import { CoreError } from '../errors/core-error.js';
import { AbortReason, type AbortReasonName } from './abort-reason.js';
import { encodeAbortBody, encodeHandshakeMessage, MessageType } from './handshake-messages.js';

/** Thrown inside the state machines and turned into ABORT effects at their edge. */
export class HandshakeFailure extends CoreError {
  readonly reason: AbortReasonName;
  constructor(reason: AbortReasonName, detail: string, options?: ErrorOptions) {
    super('ERR_HANDSHAKE', `${reason}: ${detail}`, options);
    this.reason = reason;
  }
}

/** Runs `f`; a CoreError that is not a HandshakeFailure becomes one with `reason`. */
export function failAs<T>(reason: AbortReasonName, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HandshakeFailure) throw e;
    if (CoreError.is(e)) throw new HandshakeFailure(reason, e.message, { cause: e });
    throw e;
  }
}

/** Throws a HandshakeFailure unless `cond`. */
export function require(cond: boolean, reason: AbortReasonName, detail: string): asserts cond {
  if (!cond) throw new HandshakeFailure(reason, detail);
}

/** An encoded ABORT envelope. */
export function abortMessage(
  channelId: bigint,
  reqSeq: bigint,
  reason: AbortReasonName,
  detail: string,
): Uint8Array {
  return encodeHandshakeMessage({
    type: MessageType.abort,
    body: encodeAbortBody({ channelId, reqSeq, reason: AbortReason[reason], detail }),
    sig: new Uint8Array(0),
  });
}
