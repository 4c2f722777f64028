import type protobuf from 'protobufjs';
import { RuntimeError } from '../errors/runtime-error.js';
import { fastCheckerOf } from './payload-fast-check.js';
import { messageProblem } from './payload-problems.js';

/**
 * Checks `payload` against message `type` before it is encoded. protobufjs's encoder coerces
 * silently (`'loud'` or an unknown field become nothing on the wire, which the receiver reads
 * as 0; -1 in a uint32 becomes 4294967295), and its `Type.verify` lets unknown fields and
 * out-of-range integers through. So: an unknown field, a value of the wrong type, an integer
 * out of its type's range, an enum given by name or outside int32, or two members of one oneof set is a
 * `RuntimeError('ERR_BAD_PAYLOAD')` naming `what` (e.g. `request of 'SetVolume' on
 * 'AudioVolume'`), the field and what it takes.
 *
 * A generated predicate, built on a type's first use and kept, passes a good plain-object
 * payload in one pass; anything else (a bad payload, a class instance) is looked at field by
 * field, which also spells out what is wrong.
 */
export function checkPayload(type: protobuf.Type, payload: unknown, what: string): void {
  payloadChecker(type, what)(payload);
}

/** {@link checkPayload} for one type and sender, made once: the hot path's form (no lookups). */
export function payloadChecker(type: protobuf.Type, what: string): (payload: unknown) => void {
  // The generated predicate itself, in checker form: a good payload costs one call (the hot
  // path of every checked method call and event), a miss goes to the field-by-field check.
  return fastCheckerOf(type, (payload) => {
    const problem = messageProblem(type, payload, '');
    if (problem !== undefined) {
      const typeName = type.fullName.replace(/^\./, '');
      throw new RuntimeError('ERR_BAD_PAYLOAD', `${what} (${typeName}): ${problem}`);
    }
  });
}
