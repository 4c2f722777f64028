import protobuf from 'protobufjs';

// The field-by-field payload check: what is wrong with a payload, spelled out for the sender.
// Slower than the generated predicate (payload-fast-check.ts) that passes good payloads; runs
// when that one says no.

/**
 * What is wrong with one value, or undefined when it encodes as written. Checks run on the
 * sender before anything is encoded: protobufjs's encoder coerces silently (`'loud'` and an
 * unknown field both become a zero or nothing on the wire, -1 in a uint32 becomes 4294967295),
 * and its `Type.verify` lets unknown fields and out-of-range integers through.
 */
export type ValueCheck = (value: unknown, path: string) => string | undefined;

/** The checks of one message type, built once per type from its reflection. */
interface TypePlan {
  readonly type: protobuf.Type;
  /** By field name; a oneof's name maps to its own check (the `oneofs: true` virtual key). */
  readonly fields: Map<string, ValueCheck>;
  readonly oneofs: readonly protobuf.OneOf[];
}

/** Where protobufjs's decoder keeps the raw bytes of fields it does not know. */
const UNKNOWNS = '$unknowns';

const plans = new WeakMap<protobuf.Type, TypePlan>();

const INT32 = { lo: -0x80000000, hi: 0x7fffffff, what: 'an integer -2147483648..2147483647' };
const UINT32 = { lo: 0, hi: 0xffffffff, what: 'an integer 0..4294967295' };
const INT64 = { lo: -(2n ** 63n), hi: 2n ** 63n - 1n };
const UINT64 = { lo: 0n, hi: 2n ** 64n - 1n };

/** `'loud'` as `the string 'loud'`, `3.5` as `3.5`: what the sender passed, briefly. */
function shown(v: unknown): string {
  if (typeof v === 'string') return `the string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'bigint') return `the bigint ${v}n`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function int32Check(range: typeof INT32, name: string): ValueCheck {
  return (v, path) =>
    typeof v === 'number' && Number.isInteger(v) && v >= range.lo && v <= range.hi
      ? undefined
      : `field '${path}' must be a ${name} (${range.what}), got ${shown(v)}`;
}

/** The decimal value of a 64-bit input the encoder takes (number, decimal string, Long). */
function int64Value(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string') return /^-?\d{1,20}$/.test(v) ? BigInt(v) : undefined;
  if (typeof v === 'object' && v !== null) {
    const l = v as { low?: unknown; high?: unknown; unsigned?: unknown };
    if (typeof l.low !== 'number' || typeof l.high !== 'number') return undefined;
    const bits = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
    return l.unsigned === true ? bits : BigInt.asIntN(64, bits);
  }
  return undefined;
}

function int64Check(signed: boolean, name: string): ValueCheck {
  const range = signed ? INT64 : UINT64;
  const what = `a safe integer, a decimal string or a Long in ${range.lo}..${range.hi}`;
  return (v, path) => {
    // The common case, a small number, without making a bigint.
    if (typeof v === 'number' && Number.isSafeInteger(v) && (signed || v >= 0)) return undefined;
    const n = int64Value(v);
    if (n !== undefined && n >= range.lo && n <= range.hi) return undefined;
    return `field '${path}' must be a ${name} (${what}), got ${shown(v)}`;
  };
}

export function scalarCheck(type: string): ValueCheck {
  switch (type) {
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return int32Check(INT32, type);
    case 'uint32':
    case 'fixed32':
      return int32Check(UINT32, type);
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return int64Check(true, type);
    case 'uint64':
    case 'fixed64':
      return int64Check(false, type);
    case 'double':
    case 'float':
      return (v, path) =>
        typeof v === 'number'
          ? undefined
          : `field '${path}' must be a ${type} (a number), got ${shown(v)}`;
    case 'bool':
      return (v, path) =>
        typeof v === 'boolean'
          ? undefined
          : `field '${path}' must be a bool (true or false), got ${shown(v)}`;
    case 'string':
      return (v, path) =>
        typeof v === 'string' ? undefined : `field '${path}' must be a string, got ${shown(v)}`;
    case 'bytes':
      return (v, path) =>
        v instanceof Uint8Array
          ? undefined
          : `field '${path}' must be bytes (a Uint8Array or Buffer), got ${shown(v)}`;
    default:
      throw new Error(`no payload check for protobuf type ${type}`);
  }
}

function enumCheck(e: protobuf.Enum): ValueCheck {
  const list = Object.entries(e.values)
    .map(([k, n]) => `${n} (${k})`)
    .join(', ');
  // Any int32: proto3 enums are open (a value a newer peer knows is legal on the wire, and a
  // relayed message may carry one); a name or a fraction is what the encoder would garble.
  return (v, path) =>
    typeof v === 'number' && (v | 0) === v
      ? undefined
      : `field '${path}' must be a number of enum ${e.name} (an int32; its values: ${list}), got ${shown(v)}`;
}

/** The check of one element of `field` (the value of a map entry, an item of a list). */
function elementCheck(field: protobuf.Field): ValueCheck {
  field.resolve();
  const t = field.resolvedType;
  if (t instanceof protobuf.Enum) return enumCheck(t);
  if (t instanceof protobuf.Type) {
    // Looked up at use: a recursive type meets its own plan still being built.
    return (v, path) => messageProblem(t, v, path);
  }
  return scalarCheck(field.type);
}

function mapKeyCheck(keyType: string): ValueCheck {
  if (keyType === 'string') return () => undefined;
  if (keyType === 'bool') {
    return (k, path) =>
      k === 'true' || k === 'false' ? undefined : `key of '${path}' must be true or false`;
  }
  const inner = scalarCheck(keyType);
  return (k, path) => {
    const text = k as string;
    const n = /^-?\d+$/.test(text) ? (keyType.endsWith('64') ? text : Number(text)) : text;
    return inner(n, `${path} key`);
  };
}

export function fieldCheck(field: protobuf.Field): ValueCheck {
  const one = elementCheck(field);
  if (field instanceof protobuf.MapField) {
    const key = mapKeyCheck(field.keyType);
    return (v, path) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        return `field '${path}' must be a map (a plain object), got ${shown(v)}`;
      }
      for (const k of Object.keys(v)) {
        const problem = key(k, path) ?? one((v as Record<string, unknown>)[k], `${path}['${k}']`);
        if (problem !== undefined) return problem;
      }
      return undefined;
    };
  }
  if (field.repeated) {
    return (v, path) => {
      if (!Array.isArray(v)) return `field '${path}' must be an array (repeated), got ${shown(v)}`;
      for (let i = 0; i < v.length; i++) {
        // The element's path is spelled out only for the one that fails.
        if (one(v[i], path) !== undefined) return one(v[i], `${path}[${i}]`);
      }
      return undefined;
    };
  }
  return one;
}

function planOf(type: protobuf.Type): TypePlan {
  const known = plans.get(type);
  if (known !== undefined) return known;
  const fields = new Map<string, ValueCheck>();
  const plan: TypePlan = { type, fields, oneofs: type.oneofsArray };
  plans.set(type, plan);
  for (const f of type.fieldsArray) fields.set(f.name, fieldCheck(f));
  for (const o of type.oneofsArray) {
    if (fields.has(o.name)) continue;
    // `toObject(…, { oneofs: true })` writes the oneof's name with the member set.
    fields.set(o.name, (v, path) =>
      typeof v === 'string' && o.oneof.includes(v)
        ? undefined
        : `field '${path}' names the member set of oneof ${o.name}: one of ${o.oneof.join(', ')}; got ${shown(v)}`,
    );
  }
  return plan;
}

/** Edit distance ≤ 2 between short names: enough for a typo's suggestion. */
function near(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return (prev[b.length] as number) <= 2;
}

function unknownField(plan: TypePlan, key: string, path: string): string {
  const names = plan.type.fieldsArray.map((f) => f.name);
  const guess = names.find((n) => near(key.toLowerCase(), n.toLowerCase()));
  const where = path === '' ? '' : ` in '${path}'`;
  return `${plan.type.name} has no field '${key}'${where}${guess === undefined ? '' : ` (did you mean '${guess}'?)`}; its fields: ${names.join(', ') || '(none)'}`;
}

/** What is wrong with message `v` of `type` (path names where it sits), or undefined. */
export function messageProblem(type: protobuf.Type, v: unknown, path: string): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    return `${path === '' ? 'the payload' : `field '${path}'`} must be a ${type.name} message (an object), got ${shown(v)}`;
  }
  const plan = planOf(type);
  const prefix = path === '' ? '' : `${path}.`;
  // Own keys only, like the encoder: a decoded message's defaults sit on its prototype.
  for (const key of Object.keys(v)) {
    // Fields a decoder kept unparsed (a newer peer's): the encoder writes them back as they are.
    if (key === UNKNOWNS && Array.isArray((v as Record<string, unknown>)[key])) continue;
    const check = plan.fields.get(key);
    if (check === undefined) return unknownField(plan, key, path);
    const value = (v as Record<string, unknown>)[key];
    // null and undefined are "not set": the encoder skips them.
    if (value === undefined || value === null) continue;
    const problem = check(value, prefix + key);
    if (problem !== undefined) return problem;
  }
  for (const o of plan.oneofs) {
    // Own keys, like the encoder: a decoded message has every member's default on its prototype.
    const set = o.oneof.filter((m) => {
      const x = Object.hasOwn(v, m) ? (v as Record<string, unknown>)[m] : undefined;
      return x !== undefined && x !== null;
    });
    if (set.length > 1) {
      return `oneof ${o.name}${path === '' ? '' : ` in '${path}'`} has ${set.join(' and ')} set; set one`;
    }
  }
  return undefined;
}
