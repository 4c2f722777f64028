// A peer process for the cross-process ring tests. argv[2] is a JSON PeerJob; fds 3 and 4 are
// the c2p and p2c eventfds. Prints one JSON line with its results on stdout, then exits.
import { HeartbeatTimer } from '../../src/notify/heartbeat-timer.js';
import { LivenessWatchdog } from '../../src/notify/liveness-watchdog.js';
import { RingWaiter } from '../../src/notify/ring-waiter.js';
import type { NotifyMode } from '../../src/notify/ring-waiter.js';
import { RecordLayout, RingPageLayout } from '@sivshm/abi';
import type { SomeIpHeader } from '../../src/ring/someip-header.js';
import { attachChannel, lengthFor, payloadFor } from './shm-channel.js';
import type { ShmChannelSpec } from './shm-channel.js';

/** What the peer does. */
export interface PeerJob {
  readonly spec: Pick<ShmChannelSpec, 'path' | 'channelId'>;
  readonly role: 'consumer' | 'provider';
  readonly scenario: 'echo' | 'stream-forever' | 'fuzz-writer';
  readonly mode: NotifyMode;
  /** fuzz-writer: how long to scribble (ms). */
  readonly durationMs?: number;
  /** echo: its watchdog's bound on the other process's heartbeat (ms; the default unless given). */
  readonly staleAfterMs?: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as PeerJob;
const end = attachChannel({ ...job.spec, efdC2p: 3, efdP2c: 4 }, job.role);
const heartbeat = new HeartbeatTimer(end.producer).start();

async function echo(): Promise<object> {
  const waiter = new RingWaiter(end.consumer, {
    mode: job.mode,
    waker: end.consumerWaker,
    watchdog: new LivenessWatchdog({
      readHeartbeat: () => end.consumer.peerProgress(),
      ...(job.staleAfterMs === undefined ? {} : { staleAfterMs: job.staleAfterMs }),
    }),
  });
  let echoed = 0;
  let outOfOrder = 0;
  for (;;) {
    if (!(await waiter.wait(30_000)))
      return { echoed, outOfOrder, error: 'ERR_TIMEOUT (no record for 30 s)' };
    for (let r = end.consumer.receive(); r !== undefined; r = end.consumer.receive()) {
      if (r.header.session !== (echoed & 0xffff)) outOfOrder++;
      const header: SomeIpHeader = { ...r.header, messageType: 0x80 };
      const payload = r.payload;
      if (!end.producer.sendCopy(header, payload)) {
        await end.producer.sendCopyWait(header, payload, { timeoutMs: 10_000 });
      }
      end.consumer.release();
      echoed++;
    }
    const f = end.consumer.failure;
    if (f !== undefined) return { echoed, outOfOrder, end: f.code };
  }
}

async function streamForever(): Promise<object> {
  // Sends until killed; each record is loaned and filled in place in several steps, so the
  // kill lands mid-write as often as not.
  const h: SomeIpHeader = {
    service: 0x1234,
    method: 0x8001,
    client: 2,
    session: 0,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
  };
  for (let seq = 0; ; seq++) {
    const n = lengthFor(seq);
    const slot = await end.producer.loanWait(n, { timeoutMs: 60_000 });
    const p = payloadFor(seq, n);
    for (let off = 0; off < n; off += 64)
      slot.payload.set(p.subarray(off, Math.min(n, off + 64)), off);
    Object.assign(slot.header, h, { session: seq & 0xffff });
    end.producer.send(slot);
    if ((seq & 255) === 0) await new Promise((r) => setImmediate(r));
  }
}

function fuzzWriter(): object {
  // A hostile producer: random producer indices, random record words, random wrap markers.
  const v = end.sendViews;
  const cap = v.dataSize;
  const deadline = Date.now() + (job.durationMs ?? 1000);
  let writes = 0;
  let seed = 0x9e3779b9;
  const rnd = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  while (Date.now() < deadline && writes < 50_000_000) {
    for (let i = 0; i < 1000; i++, writes++) {
      const r = rnd();
      switch (r & 7) {
        case 0:
          Atomics.store(v.producerPage, RingPageLayout.producer.index / 4, rnd());
          break;
        case 1:
          Atomics.store(
            v.producerPage,
            RingPageLayout.producer.index / 4,
            (Atomics.load(v.producerPage, 0) + (rnd() & 0x1ff8)) >>> 0,
          );
          break;
        case 2:
          v.dataShared.setUint32(rnd() & (cap - 4) & ~3, RecordLayout.wrapMarkerMessageId);
          break;
        case 3:
          v.dataShared.setUint32((rnd() & (cap - 8) & ~7) + 4, rnd() & 0x3fff);
          break;
        case 4: {
          // An honest burst from where the consumer stands, so some records validate and the
          // corruption that follows hits a consumer in every state.
          const cons = Atomics.load(v.consumerPage, RingPageLayout.consumer.index / 4);
          let at = cons;
          for (let k = rnd() % 4; k >= 0; k--) {
            const len = rnd() % 200;
            const size = (16 + len + 7) & ~7;
            let pos = at & (cap - 1);
            if (pos + size > cap) {
              v.dataShared.setUint32(pos, RecordLayout.wrapMarkerMessageId);
              v.dataShared.setUint32(pos + 4, RecordLayout.wrapMarkerLength);
              at += cap - pos;
              pos = 0;
            }
            v.dataShared.setUint32(pos, 0x12348001);
            v.dataShared.setUint32(pos + 4, 8 + len);
            v.dataShared.setUint32(pos + 8, 0x00010001);
            v.dataShared.setUint32(pos + 12, 0x01010200);
            at += size;
          }
          Atomics.store(v.producerPage, RingPageLayout.producer.index / 4, at >>> 0);
          break;
        }
        default:
          v.dataShared.setUint32(rnd() & (cap - 4) & ~3, rnd());
      }
    }
  }
  return { writes };
}

let result: object;
try {
  result =
    job.scenario === 'echo'
      ? await echo()
      : job.scenario === 'fuzz-writer'
        ? fuzzWriter()
        : await streamForever();
} catch (e) {
  result = { error: `${(e as Error).name}: ${(e as Error).message}` };
}
heartbeat.stop();
end.close();
process.stdout.write(JSON.stringify(result) + '\n');
