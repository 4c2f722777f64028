// A "VM" process for the region tests: maps the region file named in argv[2], validates the
// header and reads the channel table for argv[3] ms, checking that each entry it gets is one
// of the two complete versions hostd alternates between (service = instance = 0x1111 or 0x2222).
// Prints one JSON line: the error code, or how many reads it made and how many were torn.
import { statSync } from 'node:fs';
import { TransportError } from '../../src/errors/transport-error.js';
import { mapFile, unmap } from '../../src/native/map-file.js';
import { ChannelTableReader } from '../../src/region/channel-table-reader.js';
import { readRegionHeader } from '../../src/region/region-header.js';

const path = process.argv[2] ?? '';
const durationMs = Number(process.argv[3] ?? '0');
const m = mapFile(path, 0, statSync(path).size, { writable: false });
let out: object;
try {
  const region = new Uint8Array(m.shared);
  const table = new ChannelTableReader(region, readRegionHeader(region));
  let reads = 0;
  let torn = 0;
  let busy = 0;
  const until = Date.now() + durationMs;
  while (Date.now() < until) {
    try {
      const e = table.read(0);
      reads++;
      const v = e.service;
      const ok = (v === 0x1111 || v === 0x2222) && e.instance === v && e.channelId === BigInt(v);
      if (!ok) torn++;
    } catch (err) {
      // hostd preempted mid-update for longer than the retry budget: not a torn read.
      if (TransportError.is(err) && err.code === 'ERR_TIMEOUT') busy++;
      else throw err;
    }
  }
  out = { reads, torn, busy };
} catch (e) {
  out = { error: TransportError.is(e) ? e.code : String(e), message: (e as Error).message };
}
unmap(m.handle);
process.stdout.write(JSON.stringify(out) + '\n');
