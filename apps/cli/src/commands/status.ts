import net from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';
import { id16 } from '../io/id-text.js';

/** The parts of hostd's status document (schema version 1) this command prints. */
interface Status {
  version: number;
  pid: number;
  epoch: string;
  uptimeMs: number;
  config: string;
  region: {
    path: string;
    size: number;
    dataSize: number;
    freeBytes: number;
    allocatedBytes: number;
    quarantinedBytes: number;
    largestFree?: number;
    freeExtents?: number;
  };
  vms: {
    id: number;
    name: string;
    connected: boolean;
    enrolled: boolean;
    certificateSerial?: string;
    refusals: number;
  }[];
  services: {
    service: number;
    instance: number;
    major: number;
    minor: number;
    providerVm: number;
    ttl: number;
  }[];
  channels: {
    channelId: string;
    state: string;
    mode: string;
    consumerVm: number;
    providerVm: number;
    service: number;
    instance: number;
    window: { offset: number; length: number };
    rings?: Record<
      'c2p' | 'p2c',
      { producedBytes: number; queuedBytes: number; drops?: number; refused?: number }
    >;
  }[];
  handshakes: {
    established: number;
    aborted: number;
    rejected: number;
    rateLimited: number;
    signatureVerifications: number;
    pending: number;
    timingMs: { count: number; p50?: number; p99?: number; last?: number };
  };
  sd: { received: number; relayed: number; refused: number; findsAnswered: number };
  quarantinedWindows: number;
  /** Name of each configured service by its id in hex (`0x1234`); absent from older hostds. */
  serviceNames?: Record<string, string>;
}

/** Registers `sivshm status`. */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      "show a running hostd's VMs, services, channels and handshake figures (from its status socket)",
    )
    .option('--run-dir <dir>', 'the run dir hostd was started with', '/run/sivshm')
    .option('--json', 'print the status document as JSON')
    .action(async (opts: { runDir: string; json?: boolean }) => {
      const socket = path.join(path.resolve(opts.runDir), 'status.sock');
      let text: string;
      try {
        text = await readStatusSocket(socket);
      } catch (e) {
        const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
        throw new CliError(
          'ERR_HOSTD',
          `no hostd answers at ${socket} (${why}); is sivshm-hostd running with --run-dir ${opts.runDir}?`,
          { cause: e },
        );
      }
      const status = statusDocument(text, socket);
      if (opts.json === true) {
        process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return;
      }
      let out: string;
      try {
        out = render(status);
      } catch (e) {
        // A field of an unexpected type deep in a list: the document is not one this CLI reads.
        throw new CliError(
          'ERR_HOSTD',
          `${socket} answered a status document this sivshm cannot show (${(e as Error).message}); use --json`,
          { cause: e },
        );
      }
      process.stdout.write(out);
    });
}

/** A status document is a few KiB per VM and channel; an answer beyond this is not one. */
const MAX_STATUS_BYTES = 16 * 1024 * 1024;

/** ` (largest extent X in N extents)` when hostd reports it. */
function fragmentation(r: Status['region']): string {
  if (r.largestFree === undefined || r.freeExtents === undefined) return '';
  return ` (largest extent ${size(r.largestFree)} in ${r.freeExtents} extent${r.freeExtents === 1 ? '' : 's'})`;
}

export function readStatusSocket(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    let out = '';
    const fail = (e: Error): void => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error('no answer within 5 s')), 5000);
    s.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.length > MAX_STATUS_BYTES)
        fail(new Error(`answer longer than ${MAX_STATUS_BYTES} bytes`));
    });
    s.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', fail);
  });
}

/**
 * The answer as a status document of schema version 1, checked as far as `render` relies on it:
 * whatever else listens on the socket gets a line that says so, not a crash halfway through.
 */
export function statusDocument(text: string, socket: string): Status {
  const refuse = (why: string): never => {
    throw new CliError(
      'ERR_HOSTD',
      `${socket} answered something that is not a hostd status document (${why}); is it hostd's status socket, and are sivshm and sivshm-hostd the same version?`,
    );
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return refuse(`not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) return refuse('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d['version'] !== 1) return refuse(`schema version ${String(d['version'])}, expected 1`);
  for (const list of ['vms', 'services', 'channels'] as const) {
    if (!Array.isArray(d[list])) refuse(`"${list}" is not a list`);
  }
  for (const part of ['region', 'handshakes', 'sd'] as const) {
    if (typeof d[part] !== 'object' || d[part] === null) refuse(`"${part}" is missing`);
  }
  const h = d['handshakes'] as Record<string, unknown>;
  if (typeof h['timingMs'] !== 'object' || h['timingMs'] === null) {
    refuse('"handshakes.timingMs" is missing');
  }
  return doc as Status;
}

const hex = (n: number, digits: number): string => `0x${n.toString(16).padStart(digits, '0')}`;
const size = (n: number): string =>
  n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;

const bytes = (n: number): string => (n < 1024 ? `${n} B` : size(n));
/** A ring counter word as hostd read it (a u32), '-' when this hostd does not report it. */
const count = (n: number | undefined): string => (n === undefined ? '-' : String(n >>> 0));

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].map((l) => `  ${l}`).join('\n') + '\n';
}

function render(s: Status): string {
  const vmName = (id: number): string => s.vms.find((v) => v.id === id)?.name ?? String(id);
  // `VehicleSpeed 0x1234`: the name services.yaml gives, then the id the wire carries.
  const service = (id: number): string => {
    const name = s.serviceNames?.[`0x${id.toString(16)}`];
    return name === undefined ? id16(id) : `${name} ${id16(id)}`;
  };
  const h = s.handshakes;
  const t = h.timingMs;
  let out = `hostd pid ${s.pid}, epoch ${s.epoch}, up ${(s.uptimeMs / 1000).toFixed(0)} s, config ${s.config}\n`;
  out += `region ${s.region.path}: ${size(s.region.size)}, data ${size(s.region.dataSize)}, free ${size(s.region.freeBytes)}${fragmentation(s.region)}, in use ${size(s.region.allocatedBytes)}, quarantined ${size(s.region.quarantinedBytes)}\n\n`;
  out += `VMs\n${table(
    ['ID', 'NAME', 'LINK', 'CERT', 'REFUSALS'],
    s.vms.map((v) => [
      String(v.id),
      v.name,
      v.connected ? 'up' : 'down',
      v.enrolled ? `serial ${v.certificateSerial ?? '?'}` : '-',
      String(v.refusals),
    ]),
  )}\n`;
  out += `services offered\n${
    s.services.length === 0
      ? '  (none)\n'
      : table(
          ['SERVICE', 'INSTANCE', 'VERSION', 'PROVIDER', 'TTL'],
          s.services.map((x) => [
            service(x.service),
            id16(x.instance),
            `${x.major}.${x.minor}`,
            vmName(x.providerVm),
            x.ttl === 0xffffff ? 'forever' : `${x.ttl} s`,
          ]),
        )
  }\n`;
  out += `channels\n${
    s.channels.length === 0
      ? '  (none)\n'
      : table(
          [
            'CHANNEL',
            'STATE',
            'MODE',
            'SERVICE',
            'CONSUMER',
            'PROVIDER',
            'WINDOW',
            'SENT c2p / p2c (QUEUED)',
            'EVT DROPS',
            'CALLS REFUSED',
          ],
          s.channels.map((c) => [
            c.channelId,
            c.state,
            c.mode,
            `${service(c.service)}/${id16(c.instance)}`,
            vmName(c.consumerVm),
            vmName(c.providerVm),
            `${size(c.window.length)} @ ${hex(c.window.offset, 8)}`,
            c.rings === undefined
              ? '-'
              : `${bytes(c.rings.c2p.producedBytes)} (${bytes(c.rings.c2p.queuedBytes)}) / ${bytes(c.rings.p2c.producedBytes)} (${bytes(c.rings.p2c.queuedBytes)})`,
            // Events the provider's publisher dropped for this consumer (its ring full or too
            // small), and requests the provider refused unrun past its maxCallsInFlight.
            count(c.rings?.p2c.drops),
            count(c.rings?.c2p.refused),
          ]),
        )
  }\n`;
  const ms = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)} ms`);
  out += `handshakes: ${h.established} established, ${h.aborted} aborted, ${h.rejected} rejected (${h.rateLimited} rate-limited), ${h.pending} pending, ${h.signatureVerifications} signature checks\n`;
  out += `handshake time (PENDING → ACTIVE, last ${t.count}): p50 ${ms(t.p50)}, p99 ${ms(t.p99)}, last ${ms(t.last)}\n`;
  out += `SD: ${s.sd.received} received, ${s.sd.relayed} relayed, ${s.sd.refused} refused, ${s.sd.findsAnswered} finds answered; ${s.quarantinedWindows} windows quarantined\n`;
  return out;
}
