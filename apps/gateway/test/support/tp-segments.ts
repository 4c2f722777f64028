// SOME/IP-TP segmentation as a peer configured for it sends (PRS_SOMEIP_00720ff), for the tests
// of the gateway's reassembly: written from the specification, not from the gateway's code.
import type { SomeIpMessage } from '../../src/someip/someip-message.js';

const TP_FLAG = 0x20;
const TP_HEADER_SIZE = 4;

/**
 * The segments of `m` for a UDP peer configured for SOME/IP-TP: payload pieces of at most
 * `segmentBytes` (rounded down to a multiple of 16), each with the TP flag and TP header. Used
 * by the tests' peers and, as an independent writer, by the gateway segmenter's spec.
 */
export function tpSegments(
  m: Omit<SomeIpMessage, 'protocolVersion'>,
  segmentBytes: number,
): Array<Omit<SomeIpMessage, 'protocolVersion'>> {
  const size = Math.max(16, segmentBytes - (segmentBytes % 16));
  const out: Array<Omit<SomeIpMessage, 'protocolVersion'>> = [];
  for (let at = 0; at < m.payload.byteLength || at === 0; at += size) {
    const piece = m.payload.subarray(at, at + size);
    const more = at + size < m.payload.byteLength;
    const word = (((at / 16) << 4) | (more ? 1 : 0)) >>> 0;
    const payload = new Uint8Array(TP_HEADER_SIZE + piece.byteLength);
    payload[0] = word >>> 24;
    payload[1] = (word >>> 16) & 0xff;
    payload[2] = (word >>> 8) & 0xff;
    payload[3] = word & 0xff;
    payload.set(piece, TP_HEADER_SIZE);
    out.push({ ...m, messageType: m.messageType | TP_FLAG, payload });
    if (!more) break;
  }
  return out;
}
