import {
  SOMEIP_HEADER_SIZE,
  SOMEIP_TP_FLAG as TP_FLAG,
  SOMEIP_TP_HEADER_SIZE as TP_HEADER_SIZE,
  SOMEIP_TP_UNIT as TP_UNIT,
  SomeIpHeaderOffset as At,
} from '@sivshm/abi';

/**
 * Send side of SOME/IP-TP (PRS_SOMEIP_00720ff): the encoded message `message` (header and
 * payload) as segments of at most `maxSegment` payload bytes (a multiple of 16), first to last.
 * Each segment copies the message's header — Message ID, Request ID (so client and session are
 * the same for every segment), versions, Return Code — sets the TP flag (0x20) in its Message
 * Type, sets its Length to 8 + 4 + its piece, and carries the TP header: Offset of its piece in
 * the payload (the upper 28 bits hold it in 16-byte units; since it is a multiple of 16 the
 * word is the byte offset itself) and More Segments (lowest bit) on all but the last. The
 * receiver reassembles them in order (tp-reassembler.ts is this gateway's).
 */
export function tpSegments(message: Uint8Array, maxSegment: number): Uint8Array[] {
  if (!(Number.isInteger(maxSegment) && maxSegment >= TP_UNIT && maxSegment % TP_UNIT === 0))
    throw new RangeError(`a SOME/IP-TP segment is a multiple of 16 bytes, got ${maxSegment}`);
  const header = message.subarray(0, SOMEIP_HEADER_SIZE);
  const payload = message.subarray(SOMEIP_HEADER_SIZE);
  const out: Uint8Array[] = [];
  let offset = 0;
  do {
    const piece = payload.subarray(offset, offset + maxSegment);
    const more = offset + piece.byteLength < payload.byteLength;
    const segment = new Uint8Array(SOMEIP_HEADER_SIZE + TP_HEADER_SIZE + piece.byteLength);
    const view = new DataView(segment.buffer);
    segment.set(header, 0);
    view.setUint32(At.length, 8 + TP_HEADER_SIZE + piece.byteLength);
    segment[At.messageType] = header[At.messageType]! | TP_FLAG;
    view.setUint32(SOMEIP_HEADER_SIZE, offset + (more ? 1 : 0));
    segment.set(piece, SOMEIP_HEADER_SIZE + TP_HEADER_SIZE);
    out.push(segment);
    offset += piece.byteLength;
  } while (offset < payload.byteLength);
  return out;
}
