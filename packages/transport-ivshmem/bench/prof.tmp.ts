import { schemas, smallVehicleSignal } from '../src/protobuf/fixtures/test-schemas.js';
import { SizingWriter } from '../src/protobuf/sizing-writer.js';
import { TargetWriter } from '../src/protobuf/target-writer.js';
import { encodeInto } from '../src/protobuf/encode-into.js';
const T = schemas.VehicleSignal;
const m = smallVehicleSignal();
const heap = new Uint8Array(64).subarray(0, 38);
const which = process.argv[2];
const s = new SizingWriter();
const tw = new TargetWriter();
const slot = new Uint8Array(new SharedArrayBuffer(64), 0, 38);
const fns: Record<string, () => void> = {
  size: () => {
    s.restart();
    T.encode(m as never, s.asWriter());
  },
  write: () => {
    T.encode(m as never, tw.attach(slot));
  },
  both: () => {
    encodeInto(T, m, slot);
  },
  writeheap: () => {
    T.encode(m as never, tw.attach(heap));
  },
  encodeonly: () => {
    T.encode(m);
  },
  stock: () => {
    slot.set(T.encode(m).finish());
  },
};
const fn = fns[which!]!;
for (let r = 0; r < 5; r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 300000; i++) fn();
  const dt = Number(process.hrtime.bigint() - t0);
  if (r > 0) console.log(which, (dt / 300000).toFixed(0), 'ns');
}
