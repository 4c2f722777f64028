// JSON typed at the shell ↔ protobuf messages of services.yaml's protos, for `sivshm call` and
// `sivshm echo`. protobufjs's own `verify` lets unknown fields through and wants enums as
// numbers and 64-bit integers as numbers or Longs; a shell user writes proto3 JSON (enum names,
// 64-bit integers as strings) and must hear which field is wrong, so the check is written here.
import type protobuf from 'protobufjs';
import { CliError } from '../errors/cli-error.js';

const INT32 = [-(2 ** 31), 2 ** 31 - 1] as const;
const UINT32 = [0, 2 ** 32 - 1] as const;
const INT64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const UINT64 = [0n, 2n ** 64n - 1n] as const;

/** A field's value is wrong: the one line names the field (`a.b[2]`) and what it must be. */
class FieldProblem extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

const shown = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
};

const typeName = (t: protobuf.Type | protobuf.Enum): string => t.fullName.replace(/^\./, '');

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkInteger(v: unknown, path: string, range: readonly [number, number]): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
    throw new FieldProblem(path, `expected an integer ${range[0]}..${range[1]}, got ${shown(v)}`);
  }
}

function checkLong(v: unknown, path: string, range: readonly [bigint, bigint]): void {
  const ok =
    (typeof v === 'number' && Number.isSafeInteger(v)) ||
    (typeof v === 'string' && /^-?\d{1,20}$/.test(v));
  if (ok) {
    const n = BigInt(v as number | string);
    if (n >= range[0] && n <= range[1]) return;
  }
  throw new FieldProblem(
    path,
    `expected an integer ${range[0]}..${range[1]} (a number, or a decimal string beyond 2^53), got ${shown(v)}`,
  );
}

function checkEnum(e: protobuf.Enum, v: unknown, path: string): void {
  if (typeof v === 'string' && Object.hasOwn(e.values, v)) return;
  // proto3 enums are open: a number the .proto does not name is still carried.
  if (typeof v === 'number' && Number.isInteger(v) && v >= INT32[0] && v <= INT32[1]) return;
  throw new FieldProblem(
    path,
    `expected one of ${Object.keys(e.values).join(', ')} (${typeName(e)}) or its number, got ${shown(v)}`,
  );
}

/** Checks one value of a field's type (an element, for repeated fields). */
function checkValue(field: protobuf.Field, v: unknown, path: string): void {
  const resolved = field.resolvedType;
  if (resolved !== null) {
    if ('fieldsArray' in resolved) checkMessage(resolved, v, path);
    else checkEnum(resolved, v, path);
    return;
  }
  switch (field.type) {
    case 'double':
    case 'float':
      if (typeof v !== 'number') throw new FieldProblem(path, `expected a number, got ${shown(v)}`);
      return;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return checkInteger(v, path, INT32);
    case 'uint32':
    case 'fixed32':
      return checkInteger(v, path, UINT32);
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return checkLong(v, path, INT64);
    case 'uint64':
    case 'fixed64':
      return checkLong(v, path, UINT64);
    case 'bool':
      if (typeof v !== 'boolean')
        throw new FieldProblem(path, `expected true or false, got ${shown(v)}`);
      return;
    case 'string':
      if (typeof v !== 'string') throw new FieldProblem(path, `expected a string, got ${shown(v)}`);
      return;
    case 'bytes':
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v))
        throw new FieldProblem(path, `expected base64 bytes as a string, got ${shown(v)}`);
      return;
    default:
      throw new FieldProblem(path, `has type ${field.type}, which this tool cannot read`);
  }
}

function checkField(field: protobuf.Field, v: unknown, path: string): void {
  if (v === null) return; // proto3 JSON: null is the field's default
  if (field.map) {
    if (!isObject(v)) throw new FieldProblem(path, `expected an object (a map), got ${shown(v)}`);
    for (const [k, item] of Object.entries(v))
      checkValue(field, item, `${path}[${JSON.stringify(k)}]`);
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(v)) throw new FieldProblem(path, `expected a list, got ${shown(v)}`);
    v.forEach((item, i) => checkValue(field, item, `${path}[${i}]`));
    return;
  }
  checkValue(field, v, path);
}

function checkMessage(type: protobuf.Type, v: unknown, path: string): void {
  if (!isObject(v)) {
    throw new FieldProblem(path, `expected an object (message ${typeName(type)}), got ${shown(v)}`);
  }
  for (const [key, value] of Object.entries(v)) {
    const field = type.fields[key];
    const here = path === '' ? key : `${path}.${key}`;
    if (field === undefined) {
      const known = type.fieldsArray.map((f) => f.name).join(', ') || '(none)';
      throw new FieldProblem(here, `is not a field of ${typeName(type)}; its fields: ${known}`);
    }
    checkField(field.resolve(), value, here);
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => v[name] !== undefined && v[name] !== null);
    if (set.length > 1) {
      throw new FieldProblem(
        path || set[0]!,
        `sets ${set.join(' and ')}, members of one oneof ${oneof.name}`,
      );
    }
  }
}

/**
 * Parses `text` as JSON and checks it against `type` (unknown fields, wrong types), then builds
 * the message. `what` names the value in the error line (`request of VehicleSpeed.reset`).
 */
export function messageFromJson(type: protobuf.Type, text: string, what: string): protobuf.Message {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CliError(
      'ERR_USAGE',
      `${what} is not JSON (${(e as Error).message}); write it like '{"field": 1}'`,
    );
  }
  try {
    checkMessage(type, value, '');
  } catch (e) {
    if (!(e instanceof FieldProblem)) throw e;
    const where = e.field === '' ? '' : ` field '${e.field}'`;
    throw new CliError('ERR_USAGE', `${what}${where}: ${e.problem}`);
  }
  return type.fromObject(value as Record<string, unknown>);
}

/**
 * A decoded message as proto3-style JSON: every field (defaults too), enum names, 64-bit
 * integers as decimal strings, bytes as base64, NaN and infinities as strings.
 */
export function messageToJson(type: protobuf.Type, message: object): Record<string, unknown> {
  // Through a plain object: fromObject returns a message instance unchanged, and a decoded one
  // holds 64-bit values as decimal strings, which toObject's `longs: String` cannot read.
  const m = type.fromObject(type.toObject(message as protobuf.Message));
  return type.toObject(m, {
    longs: String,
    enums: String,
    bytes: String,
    defaults: true,
    json: true,
  });
}
