import { SOMEIP_HEADER_SIZE, SomeIpHeaderOffset } from '@sivshm/abi';
import { splitSomeIpDatagram, type SomeIpSplit } from './someip-message.js';

/**
 * SOME/IP over a TCP byte stream: messages follow each other, each framed by its Length field
 * (PRS_SOMEIP, "Transport Protocol Bindings", TCP). Bytes are held only until a whole message
 * is there, and never more than one largest message: a Length that is below 8 or announces more
 * than `maxPayload` cannot be resynchronised from, so the reader reports it and the connection
 * is to be closed.
 */
export class SomeIpStreamReader {
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxPayload: number) {}

  /** Adds `chunk`; returns the whole messages now available, or why the stream is broken. */
  push(chunk: Uint8Array): SomeIpSplit {
    const bytes = this.pending.byteLength === 0 ? chunk : concat(this.pending, chunk);
    let end = 0;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (bytes.byteLength - end >= SOMEIP_HEADER_SIZE) {
      const length = view.getUint32(end + SomeIpHeaderOffset.length);
      if (length < 8) return { messages: [], malformed: 'length' };
      if (length - 8 > this.maxPayload) return { messages: [], malformed: 'tooLarge' };
      if (end + 8 + length > bytes.byteLength) break;
      end += 8 + length;
    }
    // Copy what stays: `chunk` belongs to the socket and may be reused after this call.
    this.pending = bytes.slice(end);
    if (end === 0) return { messages: [] };
    return splitSomeIpDatagram(bytes.subarray(0, end), this.maxPayload);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
