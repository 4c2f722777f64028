/**
 * The host side of the kernel-module tier plays hostd for each guest over a serial line: it
 * writes the region header, provisions each VM's key, signs the grant and revoke tokens the
 * guest's selftest asks for (encoded from @sivshm/abi's layouts, signed with node:crypto), and
 * answers `READ` with hostd's view of the region.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import {
  channelDeviceSize,
  ChannelModeCode,
  DoorbellRoute,
  GrantTarget,
  writeChannelDeviceHeader,
  GRANT_TAG_LABEL,
  GrantLayout,
  GrantPerm,
  GrantRole,
  PAGE_SIZE,
  REVOKE_TAG_LABEL,
  RegionHeaderLayout,
  RevokeLayout,
  WindowLayout,
} from '@sivshm/abi';
import { controlImage, regionImage } from './region-image.js';

export const REGION_SIZE = 4 << 20;
const CONTROL_OFFSET = PAGE_SIZE;
const DATA_OFFSET = 64 * 1024;
export const EPOCH = 7n;
export const DATA_AREA = PAGE_SIZE;
export const WIN_LEN = WindowLayout.windowLength(DATA_AREA);
/** Channel 1: consumer in guest 1, provider in guest 2. */
export const WIN_A = DATA_OFFSET;
/** Channel 2: granted to nobody. */
export const WIN_B = DATA_OFFSET + 64 * 1024;
const MAX_READ = 64 * 1024;

export type SelftestMode = 'consumer' | 'provider' | 'ring' | 'wait' | 'devices';

/** One guest as hostd knows it. */
export interface Guest {
  /** What the guest runs (a selftest mode, or `node`: the contract suite); names its log. */
  readonly mode: SelftestMode | 'node';
  /** Its role in channel 1. */
  readonly role: 'consumer' | 'provider';
  /** Fourth selftest argument: the other window (plain) or the peer's IVPosition (doorbell). */
  readonly arg: number;
  readonly vmId: number;
  readonly key: Buffer;
  serial: bigint;
  revokeSerial: bigint;
  /** The host file behind this guest's BAR2, for `READ` requests (hostd's view). */
  region?: string;
  /** The host files behind this guest's channel devices, by channel (`READ … <channel>`). */
  chandevs?: ReadonlyMap<bigint, string>;
}

export function newGuest(
  mode: Guest['mode'],
  role: Guest['role'],
  vmId: number,
  arg: number,
): Guest {
  return { mode, role, arg, vmId, key: randomBytes(32), serial: 0n, revokeSerial: 0n };
}

interface GrantFields {
  role: number;
  epoch: bigint;
  serial: bigint;
  vmId: number;
  channelId: bigint;
  windowOffset: bigint;
  windowLength: bigint;
  kn: Buffer;
  notAfterNs: bigint;
  /** GrantTarget: 0 the region (default), 1 the channel's own device. */
  target?: number;
  /** The channel's doorbell route: the peer's IVPosition (undefined: none) and vector masks. */
  dbPeer: number | undefined;
  dbRing: number;
  dbObserve: number;
}

function encodeGrant(f: GrantFields): Buffer {
  const L = GrantLayout;
  const b = Buffer.alloc(L.size);
  b.writeUInt32LE(L.magic, L.off.magic);
  b.writeUInt8(L.version, L.off.version);
  b.writeUInt8(f.role, L.off.role);
  b.writeUInt16LE(GrantPerm.map, L.off.perms);
  b.writeBigUInt64LE(f.epoch, L.off.epoch);
  b.writeBigUInt64LE(f.serial, L.off.grantSerial);
  b.writeUInt32LE(f.vmId, L.off.vmId);
  b.writeBigUInt64LE(f.channelId, L.off.channelId);
  b.writeBigUInt64LE(f.windowOffset, L.off.windowOffset);
  b.writeBigUInt64LE(f.windowLength, L.off.windowLength);
  f.kn.copy(b, L.off.kn);
  b.writeBigUInt64LE(f.notAfterNs, L.off.notAfter);
  b.writeUInt8(f.target ?? GrantTarget.region, L.off.target);
  b.writeUInt16LE(f.dbPeer ?? DoorbellRoute.noPeer, L.off.dbPeer);
  b.writeUInt32LE(f.dbRing, L.off.dbRing);
  b.writeUInt32LE(f.dbObserve, L.off.dbObserve);
  return b;
}

/**
 * The route a grant names unless its spec says otherwise: a doorbell guest's channel rings and
 * observes vector 0 at its peer (`arg`); the ivshmem-plain guests have no doorbells.
 */
function defaultRoute(g: Guest): Pick<GrantFields, 'dbPeer' | 'dbRing' | 'dbObserve'> {
  return g.mode === 'ring' || g.mode === 'wait'
    ? { dbPeer: g.arg, dbRing: 1, dbObserve: 1 }
    : { dbPeer: undefined, dbRing: 0, dbObserve: 0 };
}

/** `<spec>@<peer|none>,<ring mask>,<observe mask>`: the spec and the route it names, if any. */
function splitRoute(spec: string, f: GrantFields): string {
  const [base = '', route] = spec.split('@');
  const [peer, ring, observe] = route?.split(',') ?? [];
  if (peer !== undefined && ring !== undefined && observe !== undefined) {
    f.dbPeer = peer === 'none' ? undefined : Number(peer);
    f.dbRing = Number(ring);
    f.dbObserve = Number(observe);
  }
  return base;
}

function encodeRevoke(epoch: bigint, serial: bigint, vmId: number, channelId: bigint): Buffer {
  const L = RevokeLayout;
  const b = Buffer.alloc(L.size);
  b.writeUInt32LE(L.magic, L.off.magic);
  b.writeUInt8(L.version, L.off.version);
  b.writeBigUInt64LE(epoch, L.off.epoch);
  b.writeBigUInt64LE(serial, L.off.revokeSerial);
  b.writeUInt32LE(vmId, L.off.vmId);
  b.writeBigUInt64LE(channelId, L.off.channelId);
  return b;
}

const tag = (key: Buffer, label: string, token: Buffer): Buffer =>
  createHmac('sha256', key).update(label, 'utf8').update(token).digest();

/**
 * hostd's view of the region: `READ <offset> <length>` answered in hex from the host file; with
 * a third word, from channel <channel>'s device memory instead.
 */
function readRegion(
  g: Guest,
  offArg: string | undefined,
  lenArg: string | undefined,
  channelArg: string | undefined,
): string {
  const off = Number(offArg);
  const len = Number(lenArg);
  const file =
    channelArg === undefined ? g.region : g.chandevs?.get(BigInt(Number(channelArg) || 0));
  const size = channelArg === undefined ? REGION_SIZE : CHANDEV_SIZE;
  if (
    file === undefined ||
    !Number.isSafeInteger(off) ||
    !Number.isSafeInteger(len) ||
    off < 0 ||
    len < 1 ||
    len > MAX_READ ||
    off + len > size
  ) {
    return 'ERROR';
  }
  const b = Buffer.alloc(len);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, b, 0, len, off);
  } finally {
    closeSync(fd);
  }
  return b.toString('hex');
}

/** `EPOCH <n>`: hostd moved the region to epoch n (as after a restart); `OK` once written. */
function setEpoch(g: Guest, epochArg: string | undefined): string {
  if (g.region === undefined || epochArg === undefined || !/^\d+$/.test(epochArg)) return 'ERROR';
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(epochArg));
  const fd = openSync(g.region, 'r+');
  try {
    writeSync(fd, b, 0, 8, RegionHeaderLayout.off.epoch);
  } finally {
    closeSync(fd);
  }
  return 'OK';
}

/** How a `GRANT <spec>` request bends the otherwise valid grant (one rule broken each). */
function bendGrant(spec: string, f: GrantFields, g: Guest, other: Guest, nowNs: bigint): Buffer {
  let key = g.key;
  switch (spec) {
    case 'other-vm-key':
      f.vmId = other.vmId;
      key = other.key;
      break;
    case 'other-vm-id':
      f.vmId = other.vmId;
      break;
    case 'old-epoch':
      f.epoch = EPOCH - 1n;
      break;
    case 'expired':
      f.notAfterNs = nowNs - 3_600_000_000_000n; // an hour: guest clocks under TCG drift
      break;
    case 'control':
      f.windowOffset = BigInt(CONTROL_OFFSET);
      break;
    case 'header':
      f.windowOffset = 0n;
      break;
    case 'beyond':
      f.windowOffset = BigInt(REGION_SIZE - 2 * PAGE_SIZE);
      break;
    case 'unaligned':
      f.windowOffset = BigInt(WIN_A + 8);
      break;
    default: {
      // `chan:<id>:<consumer|provider>:<window offset>`: a valid grant of another channel
      const [kind, id, role, offset] = spec.split(':');
      if (kind === 'chan' && id !== undefined && offset !== undefined) {
        f.channelId = BigInt(id);
        f.role = role === 'provider' ? GrantRole.provider : GrantRole.consumer;
        f.windowOffset = BigInt(offset);
      }
      // `dev:<id>:<role>[:<window length>]`: a device grant of channel <id> (its own device)
      if (kind === 'dev' && id !== undefined) {
        f.target = GrantTarget.device;
        f.channelId = BigInt(id);
        f.role = role === 'provider' ? GrantRole.provider : GrantRole.consumer;
        f.windowOffset = BigInt(PAGE_SIZE);
        f.windowLength = BigInt(offset ?? WIN_LEN);
      }
    }
  }
  return key;
}

/** hostd's answer to one request line of the guest selftest. */
function answer(g: Guest, other: Guest, line: string): string {
  const [verb, spec, knHex, fourth] = line.trim().split(' ');
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  if (verb === 'KEY') return `${g.key.toString('hex')} ${g.vmId}`;
  if (verb === 'READ') return readRegion(g, spec, knHex, fourth);
  if (verb === 'EPOCH') return setEpoch(g, spec);
  if (verb === 'REVOKE') {
    // `REVOKE chan:<id>` revokes that channel; `valid` and `forged` channel 1
    const channel = spec?.startsWith('chan:') === true ? BigInt(spec.slice(5)) : 1n;
    const token = encodeRevoke(EPOCH, ++g.revokeSerial, g.vmId, channel);
    const t = tag(g.key, REVOKE_TAG_LABEL, token);
    if (spec === 'forged') t[0] = (t[0] ?? 0) ^ 1;
    return token.toString('hex') + t.toString('hex');
  }
  if (verb !== 'GRANT' || spec === undefined || knHex?.length !== 32) return 'ERROR';
  const f: GrantFields = {
    role: g.role === 'consumer' ? GrantRole.consumer : GrantRole.provider,
    epoch: EPOCH,
    serial: ++g.serial,
    vmId: g.vmId,
    channelId: 1n,
    windowOffset: BigInt(WIN_A),
    windowLength: BigInt(WIN_LEN),
    kn: Buffer.from(knHex, 'hex'),
    notAfterNs: nowNs + 600_000_000_000n,
    ...defaultRoute(g),
  };
  const key = bendGrant(splitRoute(spec, f), f, g, other, nowNs);
  const token = encodeGrant(f);
  const t = tag(key, GRANT_TAG_LABEL, token);
  if (spec === 'forged') t[31] = (t[31] ?? 0) ^ 0x80;
  return token.toString('hex') + t.toString('hex');
}

/**
 * A request the tier answers itself, asynchronously (e.g. `PLUG`/`UNPLUG`, which hot-plug a
 * device through QMP); undefined: not one of its requests.
 */
export type ExtraRequest = (verb: string, arg: string | undefined) => Promise<string> | undefined;

/** Connects to QEMU's control chardev (retrying while QEMU starts) and answers requests. */
export function serveControl(
  sock: string,
  g: Guest,
  other: Guest,
  deadline: number,
  extra?: ExtraRequest,
): void {
  const attempt = (): void => {
    const s: Socket = connect(sock);
    let buf = '';
    // answers leave in the order the requests came, whichever take longer
    let queue: Promise<void> = Promise.resolve();
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const [verb = '', arg] = line.trim().split(' ');
        const later = extra?.(verb, arg);
        const reply = later ?? Promise.resolve(answer(g, other, line));
        queue = queue.then(async () => {
          const text = await reply.catch((e: unknown) => `ERROR ${(e as Error).message}`);
          s.write(`${text.replace(/\n/g, ' ')}\n`);
        });
      }
    });
    s.on('error', () => {
      if (Date.now() < deadline) setTimeout(attempt, 100);
    });
  };
  attempt();
}

/** A region file with a layout v1 header, as hostd writes it. */
/**
 * Writes the control file of the region writeRegion makes, at epoch `epoch` (a forgery names
 * another epoch than the region's); returns its size.
 */
export function writeControlFile(path: string, epoch = EPOCH): number {
  const b = controlImage({
    size: REGION_SIZE,
    epoch,
    controlOffset: CONTROL_OFFSET,
    dataOffset: DATA_OFFSET,
    granule: PAGE_SIZE,
  });
  writeFileSync(path, b);
  return b.length;
}

export function writeRegion(path: string): void {
  writeFileSync(
    path,
    regionImage({
      size: REGION_SIZE,
      epoch: EPOCH,
      controlOffset: CONTROL_OFFSET,
      dataOffset: DATA_OFFSET,
      granule: PAGE_SIZE,
    }),
  );
}

/** Size of a test channel device's memory (header granule + window, a power of two). */
export const CHANDEV_SIZE = channelDeviceSize(PAGE_SIZE, WIN_LEN);

/**
 * A channel device's memory file as hostd writes it before the plug: the header for
 * `channelId` (consumer `consumerVm`, provider `providerVm`), then a zeroed window.
 */
export function writeChannelDevice(
  path: string,
  channelId: bigint,
  consumerVm: number,
  providerVm: number,
): void {
  const mem = Buffer.alloc(CHANDEV_SIZE);
  writeChannelDeviceHeader(mem, {
    deviceSize: CHANDEV_SIZE,
    epoch: EPOCH,
    channelId,
    pageGranule: PAGE_SIZE,
    windowLength: WIN_LEN,
    ringDataSize: DATA_AREA,
    consumerVm,
    providerVm,
    service: 0x1234,
    instance: Number(channelId),
    major: 1,
    mode: ChannelModeCode.plain,
  });
  writeFileSync(path, mem);
}
