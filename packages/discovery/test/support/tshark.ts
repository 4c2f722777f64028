// Runs the real Wireshark SOME/IP-SD dissector (tshark) over a capture: the independent
// judge of what our encoder puts on the wire.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sdPcap, type PcapDatagram } from '../../src/pcap/sd-pcap.js';

/** Why tshark cannot run here, or undefined when it can. */
export function tsharkMissing(): string | undefined {
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0)
    return 'tshark is not installed (apt-get install tshark); the SOME/IP-SD dissector check cannot run';
  return undefined;
}

/** What tshark made of a capture: one layers object per packet, and the expert report. */
export interface TsharkResult {
  readonly packets: Array<Record<string, unknown>>;
  /** `-z expert` output; empty when the dissectors raised no expert item at all. */
  readonly expert: string;
}

const DECODE_AS = ['-d', 'udp.port==30490,someip'];
const CHECKSUMS = ['-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'];

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

/**
 * Runs tshark over an existing capture file. `checksums` validates IP and UDP checksums; turn
 * it off for live captures on `lo`, where the kernel leaves UDP checksums to "hardware"
 * (CHECKSUM_PARTIAL) and the captured value is not the one a wire would carry.
 */
export function tsharkDecodeFile(file: string, checksums = true): TsharkResult {
  const opts = [...DECODE_AS, ...(checksums ? CHECKSUMS : [])];
  const json = spawnSync('tshark', ['-r', file, ...opts, '-T', 'json', '--no-duplicate-keys'], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 << 20,
  });
  if (json.status !== 0) throw new Error(`tshark failed: ${json.stderr}`);
  const expert = spawnSync('tshark', ['-r', file, ...opts, '-q', '-z', 'expert'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (expert.status !== 0) throw new Error(`tshark failed: ${expert.stderr}`);
  const parsed = JSON.parse(json.stdout) as Array<{ _source: { layers: Record<string, unknown> } }>;
  return { packets: parsed.map((p) => p._source.layers), expert: expert.stdout.trim() };
}

/** Every value of `field` anywhere under `node` (tshark nests and arrays duplicate keys). */
export function fieldValues(node: unknown, field: string): string[] {
  const out: string[] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (typeof n === 'object' && n !== null) {
      for (const [k, v] of Object.entries(n)) {
        if (k === field) {
          if (Array.isArray(v)) v.forEach((x) => (typeof x === 'string' ? out.push(x) : walk(x)));
          else if (typeof v === 'string') out.push(v);
          else walk(v);
        } else walk(v);
      }
    }
  };
  walk(node);
  return out;
}
