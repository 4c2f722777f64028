// The protobuf schema both processes of the service test use.
import protobuf from 'protobufjs';

const root = protobuf.parse(`
syntax = "proto3";
package t;
message Tick { uint32 seq = 1; bytes blob = 2; string note = 3; }
message Add { uint32 a = 1; uint32 b = 2; }
message Sum { uint32 sum = 1; }
message Empty {}
message Count { uint32 n = 1; }
`).root;

export const Tick = root.lookupType('t.Tick');
export const Add = root.lookupType('t.Add');
export const Sum = root.lookupType('t.Sum');
export const Empty = root.lookupType('t.Empty');
export const Count = root.lookupType('t.Count');

export const EVENT_TICK = 0x8001;
/** The same ticks on the zero-copy lane (an event is consumed either as copies or as samples). */
export const EVENT_TICK_IN_PLACE = 0x8002;
export const METHOD_ADD = 0x0001;
export const METHOD_FAIL = 0x0002;
export const METHOD_BUMP = 0x0003;
export const METHOD_COUNT = 0x0004;
export const METHOD_START = 0x0005;
export const METHOD_START_IN_PLACE = 0x0006;
export const METHOD_SLOW = 0x0007;
export const METHOD_MISSING = 0x0042;
export const TICKS = 2000;

/** Deterministic blob for tick `seq`, so corruption and reordering are visible. */
export function blobFor(seq: number): Uint8Array {
  const n = (seq * 53) % 700;
  const b = new Uint8Array(n);
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
