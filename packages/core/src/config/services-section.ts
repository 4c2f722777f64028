/** The `services` section of services.yaml: ids, versions, instances, provider and consumers. */
import type { ChannelMode } from '@sivshm/abi';
import type { Node } from 'yaml';
import type { ConfigBuildContext, Seen } from './config-build-context.js';
import { formatHex } from './config-numbers.js';
import { MEMBER_NAME, U16_ID, VM_NAME } from './config-patterns.js';
import type { ServiceDefinition, ServiceIsolation } from './config-types.js';
import { ProtoTypeChecker } from './proto-type-checker.js';
import type { LoadedProtos } from './protos-section.js';
import { memberIndex, parseEventgroups, parseMethods } from './service-members-section.js';
import { parseServiceWindow, type WindowBounds } from './service-window-section.js';
import { indexPath, type FieldEntry } from './yaml-reader.js';

const MODES: readonly ChannelMode[] = ['plain', 'mac', 'aead'];
const ISOLATIONS: readonly ServiceIsolation[] = ['region', 'device'];
const OPTIONAL_KEYS = [
  'minor',
  'consumers',
  'minMode',
  'eventgroups',
  'methods',
  'ringDataSize',
  'idleTimeoutMs',
  'isolation',
  'elastic',
];

/** Reads `services`; VM names must already be in `ctx.vmIds` (see `parseVms`). */
export function parseServices(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  protos: LoadedProtos | undefined,
  bounds: WindowBounds = { dataSize: undefined, vms: undefined, pageGranule: 4096 },
): readonly ServiceDefinition[] | undefined {
  if (!entry) return undefined;
  const r = ctx.r;
  const items = r.seq(entry.value, 'services', entry.key);
  if (!items) return undefined;
  const ids = new Map<number, Seen>();
  const names = new Map<string, Seen>();
  const out: ServiceDefinition[] = [];
  items.forEach((item, i) => {
    if (r.exhausted) return;
    const p = indexPath('services', i);
    const svc = parseService(ctx, item, p, protos, bounds);
    if (!svc) return;
    const { def, idNode, nameNode } = svc;
    const okId = ctx.unique(
      ids,
      def.id,
      idNode,
      `${p}.id`,
      `duplicate service id ${formatHex(def.id, 4)}`,
    );
    const okName = ctx.unique(
      names,
      def.name,
      nameNode,
      `${p}.name`,
      `duplicate service name '${def.name}'`,
    );
    if (!okId || !okName) return;
    ctx.locate(def, p, item);
    out.push(def);
  });
  return Object.freeze(out);
}

function parseService(
  ctx: ConfigBuildContext,
  item: Node,
  p: string,
  protos: LoadedProtos | undefined,
  bounds: WindowBounds,
): { def: ServiceDefinition; idNode: Node | null; nameNode: Node | null } | undefined {
  const r = ctx.r;
  const m = r.map(item, p, ['name', 'id', 'instances', 'major', 'provider'], OPTIONAL_KEYS);
  if (!m) return undefined;
  const get = (k: string) => m.get(k);
  const nameE = get('name');
  const name = nameE && r.string(nameE.value, `${p}.name`, MEMBER_NAME, nameE.key);
  const idE = get('id');
  const id = idE && r.integer(idE.value, `${p}.id`, 0x0001, 0xfffe, U16_ID, idE.key);
  const instances = parseInstances(ctx, get('instances'), `${p}.instances`);
  const majorE = get('major');
  const major = majorE && r.integer(majorE.value, `${p}.major`, 0, 0xfe, 'decimal', majorE.key);
  const minorE = get('minor');
  const minor = minorE
    ? r.integer(minorE.value, `${p}.minor`, 0, 0xfffffffe, 'decimal', minorE.key)
    : 0;
  const modeE = get('minMode');
  const minMode = modeE ? r.oneOf(modeE.value, `${p}.minMode`, MODES, modeE.key) : 'plain';
  const isolationE = get('isolation');
  const isolation = isolationE
    ? r.oneOf(isolationE.value, `${p}.isolation`, ISOLATIONS, isolationE.key)
    : 'region';

  const providerE = get('provider');
  const provider = providerE && vmRef(ctx, providerE.value, `${p}.provider`, providerE.key);
  const consumers = parseConsumers(ctx, get('consumers'), `${p}.consumers`, provider?.name);
  const win = parseServiceWindow(
    ctx,
    p,
    m,
    bounds,
    consumers?.map((c) => c.id),
    isolation,
  );

  const types = new ProtoTypeChecker(r, protos);
  const members = memberIndex();
  const eventgroups = parseEventgroups(ctx, get('eventgroups'), `${p}.eventgroups`, types, members);
  const methods = parseMethods(ctx, get('methods'), `${p}.methods`, types, members);

  if (
    name === undefined ||
    id === undefined ||
    !instances ||
    major === undefined ||
    minor === undefined ||
    minMode === undefined ||
    isolation === undefined ||
    !provider ||
    provider.id === undefined ||
    !consumers ||
    !eventgroups ||
    !methods ||
    !win
  ) {
    return undefined;
  }
  const def: ServiceDefinition = Object.freeze({
    name,
    id,
    instances,
    major,
    minor,
    provider: provider.name,
    providerVmId: provider.id,
    consumers: Object.freeze(consumers.map((c) => c.name)),
    consumerVmIds: Object.freeze(consumers.map((c) => c.id)),
    minMode,
    eventgroups: Object.freeze(eventgroups),
    methods,
    ...(win.ringDataSize === undefined ? {} : { ringDataSize: win.ringDataSize }),
    ...(win.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: win.idleTimeoutMs }),
    ...(isolation === 'device' ? { isolation } : {}),
    ...(win.elastic === undefined ? {} : { elastic: win.elastic }),
  });
  return { def, idNode: idE?.value ?? null, nameNode: nameE?.value ?? null };
}

/** `instances`: at least one distinct id, returned sorted. */
function parseInstances(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
): readonly number[] | undefined {
  if (!entry) return undefined;
  const r = ctx.r;
  const items = r.seq(entry.value, p, entry.key);
  if (!items) return undefined;
  if (items.length === 0) {
    r.report(entry.value, p, 'list at least one instance id', entry.key);
    return undefined;
  }
  const seen = new Map<number, Seen>();
  const out: number[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const ip = indexPath(p, i);
    const n = r.integer(item, ip, 0x0001, 0xfffe, U16_ID);
    if (n === undefined) ok = false;
    else if (!ctx.unique(seen, n, item, ip, `duplicate instance ${formatHex(n, 4)}`)) ok = false;
    else out.push(n);
  });
  return ok ? Object.freeze(out.sort((a, b) => a - b)) : undefined;
}

/** A VM name that must exist; `id` is undefined when that VM's own id was invalid. */
function vmRef(
  ctx: ConfigBuildContext,
  node: Node | null,
  p: string,
  fallback?: Node | null,
): { name: string; id: number | undefined } | undefined {
  const r = ctx.r;
  const name = r.string(node, p, VM_NAME, fallback);
  if (name === undefined) return undefined;
  if (!ctx.vmIds.has(name)) {
    const known = [...ctx.vmIds.keys()];
    r.report(
      node,
      p,
      `'${name}' is not a VM in vms; VMs: ${known.length > 0 ? known.join(', ') : '(none)'}`,
      fallback,
    );
    return undefined;
  }
  return { name, id: ctx.vmIds.get(name) };
}

/** `consumers`: distinct VMs other than the provider (none: an empty list). */
function parseConsumers(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
  provider: string | undefined,
): { name: string; id: number }[] | undefined {
  if (!entry) return [];
  const r = ctx.r;
  const items = r.seq(entry.value, p, entry.key);
  if (!items) return undefined;
  const seen = new Map<string, Seen>();
  const out: { name: string; id: number }[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const ip = indexPath(p, i);
    const ref = vmRef(ctx, item, ip);
    if (!ref) {
      ok = false;
    } else if (ref.name === provider) {
      r.report(
        item,
        ip,
        `'${ref.name}' is this service's provider; a VM does not consume its own service over a channel`,
      );
      ok = false;
    } else if (!ctx.unique(seen, ref.name, item, ip, `'${ref.name}' is listed twice`)) {
      ok = false;
    } else if (ref.id === undefined) {
      ok = false;
    } else {
      out.push({ name: ref.name, id: ref.id });
    }
  });
  return ok ? out : undefined;
}
