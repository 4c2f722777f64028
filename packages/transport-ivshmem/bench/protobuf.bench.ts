// Zero-copy protobuf micro-benchmark (issue 3, item 7): the demo's small VehicleSignal (38 B)
// and a 256-byte-payload variant, encoded into a ring slot vs stock encode().finish() + copy,
// decoded in place vs decoded from a copy, and the whole lane over a real ring in one thread.
// Issue target: ≥ 2 M msg/s for a small protobuf message on the encode+send lane.
// Run: node --import tsx -e "const m = await import('./packages/transport-ivshmem/bench/protobuf.bench.ts'); console.log(m.format(await m.run({ quick: false })))"
import { cpus, loadavg } from 'node:os';
import { WindowLayout } from '@sivshm/kmod';
import { decodeCopy, decodeFrom } from '../src/protobuf/decode-from.js';
import { encodeInto, encodedLength } from '../src/protobuf/encode-into.js';
import { schemas, smallVehicleSignal } from '../src/protobuf/fixtures/test-schemas.js';
import { Sample } from '../src/protobuf/sample.js';
import { toOwned } from '../src/protobuf/to-owned.js';
import { RingConsumer } from '../src/ring/ring-consumer.js';
import { RingProducer } from '../src/ring/ring-producer.js';
import { ringViews } from '../src/ring/ring-views.js';
import type { SomeIpHeader } from '../src/ring/someip-header.js';

/** One measured case. */
export interface ProtobufBenchRow {
  /** `small` (38 B) or `payload256`. */
  variant: string;
  /** What one operation does. */
  case: string;
  /** Encoded message size in bytes. */
  bytes: number;
  /** Median over runs of operations per second. */
  msgPerSec: number;
  /** Nanoseconds per operation at the median. */
  nsPerMsg: number;
  /** Every run's operations per second, sorted. */
  runMsgPerSec: number[];
  /** Target in msg/s for this case, when the issue sets one. */
  targetMsgPerSec?: number;
  meetsTarget?: boolean;
}

/** Everything `run` measured. */
export interface ProtobufBenchResult {
  suite: 'protobuf';
  machine: {
    cpus: number;
    model: string;
    node: string;
    loadAvgStart: number[];
    loadAvgEnd: number[];
  };
  runs: number;
  iterations: number;
  rows: ProtobufBenchRow[];
}

const TARGET_SEND = 2_000_000;
const CAP = 1 << 16;
const HEADER: SomeIpHeader = {
  service: 0x1234,
  method: 0x8001,
  client: 1,
  session: 0,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

let sink = 0;

/** Median of `runs` timed runs of `iterations` calls (after one untimed warm-up run). */
function measure(runs: number, iterations: number, fn: (i: number) => void): number[] {
  const rates: number[] = [];
  for (let r = -1; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn(i);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r >= 0) rates.push(iterations / s);
  }
  return rates.sort((a, b) => a - b);
}

function row(
  variant: string,
  name: string,
  bytes: number,
  rates: number[],
  target?: number,
): ProtobufBenchRow {
  const median = rates[rates.length >> 1] ?? NaN;
  const r: ProtobufBenchRow = {
    variant,
    case: name,
    bytes,
    msgPerSec: Math.round(median),
    nsPerMsg: Math.round(1e9 / median),
    runMsgPerSec: rates.map(Math.round),
  };
  if (target !== undefined) {
    r.targetMsgPerSec = target;
    r.meetsTarget = median >= target;
  }
  return r;
}

/** A ring over a heap SharedArrayBuffer, as the ring specs build theirs. */
function ring(): { producer: RingProducer; consumer: RingConsumer } {
  const sab = new SharedArrayBuffer(WindowLayout.windowLength(CAP));
  const views = ringViews({ shared: new Uint8Array(sab) }, 'p2c', CAP);
  return { producer: new RingProducer(views), consumer: new RingConsumer(views) };
}

function drain(consumer: RingConsumer, decode: boolean): void {
  for (let r = consumer.receive(); r !== undefined; r = consumer.receive()) {
    if (decode) sink += (decodeFrom<{ rpm: number }>(schemas.VehicleSignal, r.payload).rpm | 0) & 1;
    consumer.release();
  }
}

/** Runs the benchmark; `quick` uses fewer iterations and runs (a smoke run). */
export async function run(opts: { quick?: boolean } = {}): Promise<ProtobufBenchResult> {
  const runs = opts.quick ? 3 : 7;
  const iterations = opts.quick ? 50_000 : 400_000;
  const loadAvgStart = loadavg();
  const T = schemas.VehicleSignal;
  const rows: ProtobufBenchRow[] = [];
  for (const [variant, payloadLength] of [
    ['small', 0],
    ['payload256', 256],
  ] as const) {
    const message = { ...smallVehicleSignal(), payload: new Uint8Array(payloadLength).fill(0x5a) };
    const encoded = T.encode(message).finish();
    const n = encoded.length;
    // A slot inside shared memory, as a loaned ring slot is.
    const shared = new SharedArrayBuffer(8192);
    const slot = new Uint8Array(shared, 4096, n);
    const bench = (name: string, fn: (i: number) => void, target?: number): void => {
      rows.push(row(variant, name, n, measure(runs, iterations, fn), target));
    };

    bench('stock encode().finish() (allocates)', () => {
      sink += T.encode(message).finish().length;
    });
    bench('stock encode().finish() + copy into slot', () => {
      slot.set(T.encode(message).finish());
    });
    bench('encodedLength + encodeInto slot', () => {
      sink += encodeInto(T, message, slot.subarray(0, encodedLength(T, message)));
    });
    bench('encodeInto slot (target size known)', () => {
      sink += encodeInto(T, message, slot);
    });

    {
      const { producer, consumer } = ring();
      bench(
        'ring: encodeInto loaned slot + send',
        (i) => {
          const length = encodedLength(T, message);
          let s = producer.tryLoan(length);
          if (s === undefined) {
            drain(consumer, false); // the consumer's share, without decoding
            s = producer.loan(length);
          }
          encodeInto(T, message, s.payload);
          s.header.session = i & 0xffff;
          producer.send(s);
        },
        variant === 'small' ? TARGET_SEND : undefined,
      );
    }
    {
      const { producer, consumer } = ring();
      bench('ring: stock encode().finish() + trySend (copy)', (i) => {
        const bytes = T.encode(message).finish();
        HEADER.session = i & 0xffff;
        if (!producer.trySend(HEADER, bytes)) {
          drain(consumer, false);
          producer.trySend(HEADER, bytes);
        }
      });
    }
    {
      const { producer, consumer } = ring();
      bench('ring: full lane, encodeInto+send → receive+decodeFrom+release', (i) => {
        const length = encodedLength(T, message);
        let s = producer.tryLoan(length);
        if (s === undefined) {
          drain(consumer, true);
          s = producer.loan(length);
        }
        encodeInto(T, message, s.payload);
        s.header.session = i & 0xffff;
        producer.send(s);
      });
      drain(consumer, true);
    }

    const view = new Uint8Array(shared, 0, n);
    view.set(encoded);
    bench('stock decode of a copy (Buffer.from(view))', () => {
      sink += T.decode(Buffer.from(view)).$type === T ? 1 : 0;
    });
    bench('decodeFrom(view) in place', () => {
      sink += (decodeFrom<{ rpm: number }>(T, view).rpm | 0) & 1;
    });
    bench('decodeFrom + Sample + read bytes field + release', () => {
      const sample = new Sample(decodeFrom<{ id: Uint8Array }>(T, view));
      sink += sample.message.id[0] ?? 0;
      sample.release();
    });
    bench('decodeCopy(view) (messages$: copy bytes, then decode)', () => {
      sink += (decodeCopy<{ rpm: number }>(T, view).rpm | 0) & 1;
    });
    bench('decodeFrom + toOwned (messages$: deep copy)', () => {
      sink += (toOwned(decodeFrom<{ rpm: number }>(T, view)).rpm | 0) & 1;
    });
    await new Promise((r) => setImmediate(r));
  }
  if (sink === 42.5) console.error(''); // keeps the results observable to the optimiser
  return {
    suite: 'protobuf',
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAvgStart,
      loadAvgEnd: loadavg(),
    },
    runs,
    iterations,
    rows,
  };
}

/** The table `npm run bench` prints. */
export function format(r: ProtobufBenchResult): string {
  const f = (x: number): string => x.toFixed(2);
  const lines = [
    `protobufjs zero-copy (${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}, load ${r.machine.loadAvgStart.map(f).join('/')} → ${r.machine.loadAvgEnd.map(f).join('/')}; median of ${r.runs} runs × ${r.iterations})`,
    'variant     bytes  case                                                            M msg/s   ns/msg  target',
  ];
  for (const row of r.rows) {
    const target =
      row.targetMsgPerSec === undefined
        ? ''
        : `≥ ${(row.targetMsgPerSec / 1e6).toFixed(1)} M ${row.meetsTarget === true ? 'met' : 'MISSED'}`;
    lines.push(
      `${row.variant.padEnd(11)} ${String(row.bytes).padStart(5)}  ${row.case.padEnd(62)} ${(row.msgPerSec / 1e6).toFixed(2).padStart(8)} ${String(row.nsPerMsg).padStart(8)}  ${target}`,
    );
  }
  return lines.join('\n');
}
