// Reading back what `sivshm capture` writes: classic little-endian pcap, one SOME/IP frame per
// UDP datagram.
import { readFileSync } from 'node:fs';
import { messageOf } from '../../src/diag/recorded-channel.js';

/**
 * The frames of a classic little-endian pcap file (24-byte header, 16-byte record headers). A
 * record cut short at the end (a file still being written) is left out.
 */
export function pcapFrames(bytes: Uint8Array): Uint8Array[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Uint8Array[] = [];
  for (let at = 24; at + 16 <= bytes.length;) {
    const length = v.getUint32(at + 8, true);
    if (at + 16 + length > bytes.length) break;
    frames.push(bytes.subarray(at + 16, at + 16 + length));
    at += 16 + length;
  }
  return frames;
}

/** The SOME/IP session ids of the frames in a capture file, in file order. */
export function capturedSessions(file: string): number[] {
  return pcapFrames(readFileSync(file)).map((f) => {
    const someIp = messageOf(f)!;
    return (someIp[10]! << 8) | someIp[11]!;
  });
}
