// Runs the real Wireshark SOME/IP-SD dissector (tshark) over our pcap writer's output: the
// independent judge of what our encoder puts on the wire. Running tshark itself is
// @sivshm/testing's, shared with the gateway's tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tsharkDecodeFile, type TsharkResult } from '@sivshm/testing';
import { sdPcap, type PcapDatagram } from '../../src/pcap/sd-pcap.js';

/** Writes `datagrams` to a pcap and runs tshark over it (JSON fields + expert report). */
export function tsharkDecode(datagrams: readonly PcapDatagram[]): TsharkResult {
  const dir = mkdtempSync(join(tmpdir(), 'sivshm-sd-tshark-'));
  try {
    const file = join(dir, 'sd.pcap');
    writeFileSync(file, sdPcap(datagrams));
    return tsharkDecodeFile(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
