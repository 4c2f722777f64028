/**
 * The `gateway:` section of services.yaml: the SOME/IP gateway's address on the vehicle
 * network, its SD group and port, the sivshm services it exports there and the network services
 * it imports (gateway-import-section.ts).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Node } from 'yaml';
import type { ConfigBuildContext } from './config-build-context.js';
import { U16_ID } from './config-patterns.js';
import type { ServiceDefinition } from './config-types.js';
import { parseImports } from './gateway-import-section.js';
import { parseTpSegment } from './gateway-tp.js';
import type { GatewayConfig, GatewayExport } from './gateway-types.js';
import type { FieldEntry } from './yaml-reader.js';

const DEFAULT_SD_GROUP = '224.244.224.245';
const DEFAULT_SD_PORT = 30490;
const IP = {
  pattern: /^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/,
  describe: 'an IPv4 address such as 10.0.0.5 or an IPv6 address such as fd00::5',
};

/** Reads `gateway`; undefined when absent, or (with issues reported) when invalid. */
export function parseGateway(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  services: readonly ServiceDefinition[] | undefined,
): GatewayConfig | undefined {
  if (!entry) return undefined;
  const r = ctx.r;
  const m = r.map(entry.value, 'gateway', ['unicast'], ['sd', 'export', 'import'], entry.key);
  if (!m) return undefined;
  const unicast = address(ctx, m.get('unicast'), 'gateway.unicast', false);
  const sd = parseSd(ctx, m.get('sd'), unicast, m.get('unicast')?.value);
  // The SD socket is bound to the same address: an endpoint on its port would share it, and
  // so would two endpoints (exported or imported) on one port.
  const ports = new Set<string>(sd === undefined ? [] : [`udp${sd.port}`]);
  const exportEntry = m.get('export');
  const exports = exportEntry ? parseExports(ctx, exportEntry, services, ports, sd?.port) : [];
  const importEntry = m.get('import');
  const imports = importEntry ? parseImports(ctx, importEntry, services, ports, sd?.port) : [];
  if (unicast === undefined || sd === undefined || exports === undefined || imports === undefined)
    return undefined;
  // An instance both exported and imported would be the gateway consuming its own offer.
  const both = imports.find((i) =>
    exports.some((x) => x.service === i.service && x.instance === i.instance),
  );
  if (both !== undefined) {
    const what = `${both.service} instance ${both.instance} is both exported and imported; keep one`;
    r.report(importEntry?.value, 'gateway.import', what);
    return undefined;
  }
  return Object.freeze({ unicast, sdGroup: sd.group, sdPort: sd.port, exports, imports });
}

/** Reports an endpoint port already taken by SD or another export or import; false then. */
export function claimPort(
  ctx: ConfigBuildContext,
  ports: Set<string>,
  item: Node,
  path: string,
  protocol: 'udp' | 'tcp',
  port: number,
  sdPort: number | undefined,
): boolean {
  if (ports.has(`${protocol}${port}`)) {
    const what =
      protocol === 'udp' && port === sdPort
        ? `UDP port ${port} is the SD port (gateway.sd.port, default 30490); pick another`
        : `${protocol.toUpperCase()} port ${port} is used twice`;
    ctx.r.report(item, path, what);
    return false;
  }
  ports.add(`${protocol}${port}`);
  return true;
}

/**
 * Checks one parsed `gateway.export`/`gateway.import` entry against those before it: its
 * instance must not repeat (`verb` says which list) and its UDP (and TCP) port must be free.
 */
export function claimEntry(
  ctx: ConfigBuildContext,
  earlier: readonly { service: string; instance: number }[],
  item: Node,
  p: string,
  verb: 'exported' | 'imported',
  e: { service: string; instance: number; udpPort: number; tcpPort?: number },
  ports: Set<string>,
  sdPort: number | undefined,
): boolean {
  let ok = true;
  if (earlier.some((o) => o.service === e.service && o.instance === e.instance)) {
    ctx.r.report(item, p, `${e.service} instance ${e.instance} is ${verb} twice; keep one entry`);
    ok = false;
  }
  if (!claimPort(ctx, ports, item, `${p}.udp`, 'udp', e.udpPort, sdPort)) ok = false;
  if (e.tcpPort !== undefined && !claimPort(ctx, ports, item, `${p}.tcp`, 'tcp', e.tcpPort, sdPort))
    ok = false;
  return ok;
}

export function address(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  path: string,
  multicast: boolean,
): string | undefined {
  if (!entry) return undefined;
  const node = ctx.r.resolve(entry.value, path);
  const s = ctx.r.string(node, path, IP, entry.key);
  if (s === undefined) return undefined;
  if (isIPv6(s)) return ipv6Address(ctx, node, path, s, multicast);
  if (!isIPv4(s)) {
    ctx.r.report(node, path, `${s} is not ${IP.describe}`);
    return undefined;
  }
  // A unicast address names one host: not 0.0.0.0/8 (this network), multicast, nor the
  // reserved and broadcast 240.0.0.0/4 — an SD endpoint option with one is unreachable.
  const first = Number(s.split('.')[0]);
  const isMulticast = first >= 224 && first <= 239;
  if (multicast ? !isMulticast : first === 0 || first >= 224) {
    ctx.r.report(
      node,
      path,
      `${s} is not ${multicast ? 'an IPv4 multicast group (224.0.0.0/4)' : 'a unicast IPv4 address'}`,
    );
    return undefined;
  }
  return s;
}

/** An IPv6 address: a group is in ff00::/8; a unicast address is neither that nor `::`. */
function ipv6Address(
  ctx: ConfigBuildContext,
  node: Node | null,
  path: string,
  s: string,
  multicast: boolean,
): string | undefined {
  const isMulticast = /^ff/i.test(s);
  const unspecified = /^[0:]*$/.test(s);
  if (multicast ? !isMulticast : isMulticast || unspecified) {
    const what = multicast ? 'an IPv6 multicast group (ff00::/8)' : 'a unicast IPv6 address';
    ctx.r.report(node, path, `${s} is not ${what}`);
    return undefined;
  }
  return s;
}

/** The IP version of an address the checks above accepted. */
function family(a: string): 'IPv4' | 'IPv6' {
  return a.includes(':') ? 'IPv6' : 'IPv4';
}

function parseSd(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  unicast: string | undefined,
  unicastNode: Node | null | undefined,
): { group: string; port: number } | undefined {
  const v6 = unicast !== undefined && family(unicast) === 'IPv6';
  const m = entry
    ? ctx.r.map(entry.value, 'gateway.sd', [], ['group', 'port'], entry.key)
    : undefined;
  if (entry && !m) return undefined;
  const g = m?.get('group');
  if (v6 && !g) {
    // There is no agreed IPv6 SD group to default to: the network's configuration names it.
    ctx.r.report(
      entry?.value ?? unicastNode,
      'gateway.sd.group',
      'an IPv6 gateway.unicast needs gateway.sd.group, an IPv6 multicast group (ff00::/8)',
    );
    return undefined;
  }
  const group = g ? address(ctx, g, 'gateway.sd.group', true) : DEFAULT_SD_GROUP;
  if (group !== undefined && unicast !== undefined && family(group) !== family(unicast)) {
    ctx.r.report(
      g?.value,
      'gateway.sd.group',
      `${group} is not an ${family(unicast)} group like gateway.unicast`,
    );
    return undefined;
  }
  const p = m?.get('port');
  const port = p
    ? ctx.r.integer(p.value, 'gateway.sd.port', 1, 65535, 'decimal', p.key)
    : DEFAULT_SD_PORT;
  return group === undefined || port === undefined ? undefined : { group, port };
}

function parseExports(
  ctx: ConfigBuildContext,
  entry: FieldEntry,
  services: readonly ServiceDefinition[] | undefined,
  ports: Set<string>,
  sdPort: number | undefined,
): readonly GatewayExport[] | undefined {
  const items = ctx.r.seq(entry.value, 'gateway.export', entry.key);
  if (!items) return undefined;
  const out: GatewayExport[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const p = `gateway.export[${i}]`;
    const e = parseExport(ctx, item, p, services);
    if (e === undefined) {
      ok = false;
      return;
    }
    // Two offers of one instance on the network would have peers pick either endpoint.
    if (!claimEntry(ctx, out, item, p, 'exported', e, ports, sdPort)) ok = false;
    out.push(e);
  });
  return ok ? Object.freeze(out) : undefined;
}

function parseExport(
  ctx: ConfigBuildContext,
  item: Node,
  p: string,
  services: readonly ServiceDefinition[] | undefined,
): GatewayExport | undefined {
  const r = ctx.r;
  const m = r.map(
    item,
    p,
    ['service', 'instance', 'udp'],
    ['tcp', 'multicast', 'eventgroups', 'peers', 'tp'],
  );
  if (!m) return undefined;
  const get = (k: string): FieldEntry | undefined => m.get(k);
  const nameEntry = get('service');
  const name = nameEntry ? r.string(nameEntry.value, `${p}.service`) : undefined;
  const instEntry = get('instance');
  const instance = instEntry
    ? r.integer(instEntry.value, `${p}.instance`, 1, 0xfffe, U16_ID, instEntry.key)
    : undefined;
  const udpEntry = get('udp');
  const udpPort = udpEntry
    ? r.integer(udpEntry.value, `${p}.udp`, 1, 65535, 'decimal', udpEntry.key)
    : undefined;
  const tcpEntry = get('tcp');
  const tcpPort = tcpEntry
    ? r.integer(tcpEntry.value, `${p}.tcp`, 1, 65535, 'decimal', tcpEntry.key)
    : undefined;
  if (name === undefined || instance === undefined || udpPort === undefined || !services)
    return undefined;
  if (tcpEntry && tcpPort === undefined) return undefined;
  const service = services.find((s) => s.name === name);
  if (!service) {
    r.report(nameEntry?.value, `${p}.service`, `no service named '${name}' in services`);
    return undefined;
  }
  if (!service.instances.includes(instance)) {
    r.report(instEntry?.value, `${p}.instance`, `${name} has no instance ${instance}`);
    return undefined;
  }
  const eventgroups = parseEventgroupIds(ctx, get('eventgroups'), `${p}.eventgroups`, service);
  const peersEntry = get('peers');
  const peers = peersEntry ? parsePeers(ctx, peersEntry, `${p}.peers`) : undefined;
  const mcEntry = get('multicast');
  const multicast = mcEntry ? parseMulticast(ctx, mcEntry, `${p}.multicast`) : undefined;
  if (eventgroups === undefined || (peersEntry && peers === undefined)) return undefined;
  if (mcEntry && multicast === undefined) return undefined;
  const tpSegment = parseTpSegment(ctx, get('tp'), `${p}.tp`);
  if (tpSegment === null) return undefined;
  return Object.freeze({
    service: name,
    instance,
    udpPort,
    ...(tcpPort === undefined ? {} : { tcpPort }),
    ...(multicast === undefined ? {} : { multicast }),
    eventgroups,
    ...(peers ? { peers } : {}),
    ...(tpSegment === undefined ? {} : { tpSegment }),
  });
}

export function parseEventgroupIds(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
  service: ServiceDefinition,
): readonly number[] | undefined {
  const all = service.eventgroups.map((g) => g.id);
  if (!entry) return Object.freeze(all);
  const items = ctx.r.seq(entry.value, p, entry.key);
  if (!items) return undefined;
  const ids: number[] = [];
  for (const [i, item] of items.entries()) {
    const id = ctx.r.integer(item, `${p}[${i}]`, 1, 0xfffe, U16_ID);
    if (id === undefined) return undefined;
    if (!all.includes(id)) {
      ctx.r.report(item, `${p}[${i}]`, `${service.name} has no eventgroup ${id}`);
      return undefined;
    }
    ids.push(id);
  }
  return Object.freeze(ids);
}

export function parsePeers(
  ctx: ConfigBuildContext,
  entry: FieldEntry,
  p: string,
): readonly string[] | undefined {
  const items = ctx.r.seq(entry.value, p, entry.key);
  if (!items) return undefined;
  const out: string[] = [];
  for (const [i, item] of items.entries()) {
    const a = address(ctx, { key: entry.key, value: item }, `${p}[${i}]`, false);
    if (a === undefined) return undefined;
    out.push(a);
  }
  return Object.freeze(out);
}

function parseMulticast(
  ctx: ConfigBuildContext,
  entry: FieldEntry,
  p: string,
): { group: string; port: number } | undefined {
  const m = ctx.r.map(entry.value, p, ['group', 'port'], [], entry.key);
  if (!m) return undefined;
  const group = address(ctx, m.get('group'), `${p}.group`, true);
  const portEntry = m.get('port');
  const port = portEntry
    ? ctx.r.integer(portEntry.value, `${p}.port`, 1, 65535, 'decimal', portEntry.key)
    : undefined;
  return group === undefined || port === undefined ? undefined : Object.freeze({ group, port });
}
