/** A service's `eventgroups` (with their `events`) and `methods` in services.yaml. */
import type { ConfigBuildContext, Seen } from './config-build-context.js';
import { formatHex } from './config-numbers.js';
import { MEMBER_NAME, U16_ID } from './config-patterns.js';
import type { EventDefinition, EventgroupDefinition, MethodDefinition } from './config-types.js';
import type { ProtoTypeChecker } from './proto-type-checker.js';
import { indexPath, type FieldEntry } from './yaml-reader.js';

/**
 * Ids and names already used in one service: event and method ids share the 16-bit space and
 * are unique across eventgroups (an event belongs to one eventgroup); event names and method
 * names are unique within their kind.
 */
export interface MemberIndex {
  readonly ids: Map<number, Seen>;
  readonly eventNames: Map<string, Seen>;
  readonly methodNames: Map<string, Seen>;
}

/** A fresh index for one service. */
export function memberIndex(): MemberIndex {
  return { ids: new Map(), eventNames: new Map(), methodNames: new Map() };
}

/** Reads `eventgroups` (none: an empty list); undefined when any of them is invalid. */
export function parseEventgroups(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
  types: ProtoTypeChecker,
  members: MemberIndex,
): EventgroupDefinition[] | undefined {
  if (!entry) return [];
  const r = ctx.r;
  const items = r.seq(entry.value, p, entry.key);
  if (!items) return undefined;
  const ids = new Map<number, Seen>();
  const names = new Map<string, Seen>();
  const out: EventgroupDefinition[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const gp = indexPath(p, i);
    const m = r.map(item, gp, ['id', 'name', 'events'], []);
    if (!m) {
      ok = false;
      return;
    }
    const idE = m.get('id');
    const id = idE && r.integer(idE.value, `${gp}.id`, 0x0001, 0xfffe, U16_ID, idE.key);
    const nameE = m.get('name');
    const name = nameE && r.string(nameE.value, `${gp}.name`, MEMBER_NAME, nameE.key);
    const idMsg = `duplicate eventgroup id ${formatHex(id ?? 0, 4)}`;
    if (id !== undefined && idE && !ctx.unique(ids, id, idE.value, `${gp}.id`, idMsg)) {
      ok = false;
    }
    const nameMsg = `duplicate eventgroup name '${name ?? ''}'`;
    if (
      name !== undefined &&
      nameE &&
      !ctx.unique(names, name, nameE.value, `${gp}.name`, nameMsg)
    ) {
      ok = false;
    }
    const events = parseEvents(ctx, m.get('events'), `${gp}.events`, types, members);
    if (id === undefined || name === undefined || !events) {
      ok = false;
      return;
    }
    const def: EventgroupDefinition = Object.freeze({
      id,
      name,
      events: Object.freeze(events),
    });
    ctx.locate(def, gp, item);
    out.push(def);
  });
  return ok ? out : undefined;
}

/** Reads an eventgroup's `events` (at least one). */
function parseEvents(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
  types: ProtoTypeChecker,
  members: MemberIndex,
): EventDefinition[] | undefined {
  if (!entry) return undefined;
  const r = ctx.r;
  const items = r.seq(entry.value, p, entry.key);
  if (!items) return undefined;
  if (items.length === 0) {
    r.report(entry.value, p, 'list at least one event', entry.key);
    return undefined;
  }
  const out: EventDefinition[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const ep = indexPath(p, i);
    const m = r.map(item, ep, ['id', 'name', 'type'], []);
    if (!m) {
      ok = false;
      return;
    }
    const idE = m.get('id');
    const id = idE && r.integer(idE.value, `${ep}.id`, 0x8000, 0xfffe, U16_ID, idE.key);
    const nameE = m.get('name');
    const name = nameE && r.string(nameE.value, `${ep}.name`, MEMBER_NAME, nameE.key);
    const idMsg = `duplicate event id ${formatHex(id ?? 0, 4)}; an event belongs to one eventgroup`;
    const idFresh =
      id === undefined || !idE || ctx.unique(members.ids, id, idE.value, `${ep}.id`, idMsg);
    const nameMsg = `duplicate event name '${name ?? ''}'`;
    const nameFresh =
      name === undefined ||
      !nameE ||
      ctx.unique(members.eventNames, name, nameE.value, `${ep}.name`, nameMsg);
    const typeE = m.get('type');
    const type = typeE && types.check(typeE, `${ep}.type`);
    if (id === undefined || name === undefined || type === undefined || !idFresh || !nameFresh) {
      ok = false;
      return;
    }
    const def: EventDefinition = Object.freeze({ id, name, type });
    ctx.locate(def, ep, item);
    out.push(def);
  });
  return ok ? out : undefined;
}

/** Reads `methods` (none: an empty list). */
export function parseMethods(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
  types: ProtoTypeChecker,
  members: MemberIndex,
): MethodDefinition[] | undefined {
  if (!entry) return [];
  const r = ctx.r;
  const items = r.seq(entry.value, p, entry.key);
  if (!items) return undefined;
  const out: MethodDefinition[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const mp = indexPath(p, i);
    const m = r.map(item, mp, ['id', 'name', 'request', 'response'], []);
    if (!m) {
      ok = false;
      return;
    }
    const idE = m.get('id');
    const id = idE && r.integer(idE.value, `${mp}.id`, 0x0001, 0x7fff, U16_ID, idE.key);
    const nameE = m.get('name');
    const name = nameE && r.string(nameE.value, `${mp}.name`, MEMBER_NAME, nameE.key);
    const idMsg = `duplicate method id ${formatHex(id ?? 0, 4)}`;
    const idFresh =
      id === undefined || !idE || ctx.unique(members.ids, id, idE.value, `${mp}.id`, idMsg);
    const nameMsg = `duplicate method name '${name ?? ''}'`;
    const nameFresh =
      name === undefined ||
      !nameE ||
      ctx.unique(members.methodNames, name, nameE.value, `${mp}.name`, nameMsg);
    const reqE = m.get('request');
    const request = reqE && types.check(reqE, `${mp}.request`);
    const resE = m.get('response');
    const response = resE && types.check(resE, `${mp}.response`);
    if (id === undefined || name === undefined || !request || !response || !idFresh || !nameFresh) {
      ok = false;
      return;
    }
    const def: MethodDefinition = Object.freeze({ id, name, request, response });
    ctx.locate(def, mp, item);
    out.push(def);
  });
  return ok ? out : undefined;
}
