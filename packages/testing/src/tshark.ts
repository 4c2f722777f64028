// Runs Wireshark's SOME/IP and SOME/IP-SD dissectors (tshark) over a capture: the independent
// judge of the bytes on the wire, shared by discovery's and the gateway's tests.
import { spawnSync } from 'node:child_process';

/** Why tshark cannot run here, or undefined when it can. */
export function tsharkMissing(): string | undefined {
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0)
    return 'tshark is not installed (apt-get install tshark); the SOME/IP dissector check cannot run';
  return undefined;
}

/** What tshark made of a capture: one layers object per packet, and the expert report. */
export interface TsharkResult {
  readonly packets: Array<Record<string, unknown>>;
  /** `-z expert` output; empty when the dissectors raised no expert item at all. */
  readonly expert: string;
}

export interface TsharkDecodeOptions {
  /** UDP ports decoded as SOME/IP; SD on 30490 is found through SOME/IP. Default: [30490]. */
  readonly someipUdpPorts?: readonly number[];
  /** TCP ports decoded as SOME/IP. Default: none. */
  readonly someipTcpPorts?: readonly number[];
  /**
   * Validate IP and UDP checksums (default). Turn it off for live captures on `lo`, where the
   * kernel leaves UDP checksums to "hardware" (CHECKSUM_PARTIAL) and the captured value is not
   * the one a wire would carry.
   */
  readonly checksums?: boolean;
}

const CHECKSUMS = ['-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'];

/** Runs tshark over a capture file: every packet's layers as JSON, and the expert report. */
export function tsharkDecodeFile(file: string, options: TsharkDecodeOptions = {}): TsharkResult {
  const { someipUdpPorts = [30490], someipTcpPorts = [], checksums = true } = options;
  const opts = [
    ...someipUdpPorts.flatMap((p) => ['-d', `udp.port==${p},someip`]),
    ...someipTcpPorts.flatMap((p) => ['-d', `tcp.port==${p},someip`]),
    ...(checksums ? CHECKSUMS : []),
  ];
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
