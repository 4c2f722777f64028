/**
 * `gateway.import` of services.yaml: network services the SOME/IP gateway finds on the vehicle
 * network and offers inside sivshm. Each names a service of `services` (its ids, methods and
 * events are the network service's), the gateway's own UDP (and optional TCP) port for it, the
 * eventgroups to subscribe and, optionally, the addresses whose offers are taken.
 */
import type { Node } from 'yaml';
import type { ConfigBuildContext } from './config-build-context.js';
import { U16_ID } from './config-patterns.js';
import type { ServiceDefinition } from './config-types.js';
import { claimEntry, parseEventgroupIds, parsePeers } from './gateway-section.js';
import { parseTpSegment } from './gateway-tp.js';
import type { GatewayImport } from './gateway-types.js';
import type { FieldEntry } from './yaml-reader.js';

/** Reads `gateway.import`; undefined (with issues reported) when any entry is invalid. */
export function parseImports(
  ctx: ConfigBuildContext,
  entry: FieldEntry,
  services: readonly ServiceDefinition[] | undefined,
  ports: Set<string>,
  sdPort: number | undefined,
): readonly GatewayImport[] | undefined {
  const items = ctx.r.seq(entry.value, 'gateway.import', entry.key);
  if (!items) return undefined;
  const out: GatewayImport[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const p = `gateway.import[${i}]`;
    const e = parseImport(ctx, item, p, services);
    if (e === undefined) {
      ok = false;
      return;
    }
    // The gateway offers an imported instance inside sivshm once: a second entry would be a
    // second provider of the same instance.
    if (!claimEntry(ctx, out, item, p, 'imported', e, ports, sdPort)) ok = false;
    out.push(e);
  });
  return ok ? Object.freeze(out) : undefined;
}

function parseImport(
  ctx: ConfigBuildContext,
  item: Node,
  p: string,
  services: readonly ServiceDefinition[] | undefined,
): GatewayImport | undefined {
  const r = ctx.r;
  const m = r.map(item, p, ['service', 'instance', 'udp'], ['tcp', 'eventgroups', 'peers', 'tp']);
  if (!m) return undefined;
  const nameEntry = m.get('service');
  const name = nameEntry ? r.string(nameEntry.value, `${p}.service`) : undefined;
  const instEntry = m.get('instance');
  const instance = instEntry
    ? r.integer(instEntry.value, `${p}.instance`, 1, 0xfffe, U16_ID, instEntry.key)
    : undefined;
  const port = (k: 'udp' | 'tcp'): number | undefined => {
    const e = m.get(k);
    return e ? r.integer(e.value, `${p}.${k}`, 1, 65535, 'decimal', e.key) : undefined;
  };
  const udpPort = port('udp');
  const tcpPort = port('tcp');
  if (name === undefined || instance === undefined || udpPort === undefined || !services)
    return undefined;
  if (m.get('tcp') && tcpPort === undefined) return undefined;
  const service = services.find((s) => s.name === name);
  if (!service) {
    r.report(nameEntry?.value, `${p}.service`, `no service named '${name}' in services`);
    return undefined;
  }
  if (!service.instances.includes(instance)) {
    r.report(instEntry?.value, `${p}.instance`, `${name} has no instance ${instance}`);
    return undefined;
  }
  const eventgroups = parseEventgroupIds(ctx, m.get('eventgroups'), `${p}.eventgroups`, service);
  const peersEntry = m.get('peers');
  const peers = peersEntry ? parsePeers(ctx, peersEntry, `${p}.peers`) : undefined;
  if (eventgroups === undefined || (peersEntry && peers === undefined)) return undefined;
  const tpSegment = parseTpSegment(ctx, m.get('tp'), `${p}.tp`);
  if (tpSegment === null) return undefined;
  return Object.freeze({
    service: name,
    instance,
    udpPort,
    ...(tcpPort === undefined ? {} : { tcpPort }),
    eventgroups,
    ...(peers ? { peers } : {}),
    ...(tpSegment === undefined ? {} : { tpSegment }),
  });
}
