// The payload check's fast lane: one generated predicate per message type that says yes to a
// good plain-object payload in a single pass (the same technique as protobufjs's own codegen
// and the transport's generated sizer), so checking a payload costs a fraction of encoding it.
// It only says yes or no; a no goes to the field-by-field check (payload-problems.ts), which
// decides and names the field. So the predicate may say no to a good payload (a class instance,
// a field set to undefined), never yes to a bad one.
import protobuf from 'protobufjs';
import { fieldCheck, type ValueCheck } from './payload-problems.js';

/** True when `payload` certainly encodes as written. */
export type FastCheck = (payload: unknown) => boolean;

interface Holder {
  ok: FastCheck;
  /** The predicate's body and the values it closes over, kept to build the checker form. */
  lines?: readonly string[];
  scope?: Scope;
}

const holders = new WeakMap<protobuf.Type, Holder>();

/** The condition a set value `v` of `field` must meet, as JS source over the scope below. */
function condition(field: protobuf.Field, index: number, scope: Scope): string {
  // Lists and maps, and 64-bit values that are no number (decimal strings, Longs), take the
  // field-by-field check: rarer on the hot path, and their rules are longer.
  const slow = `C[${index}](v,"")===undefined`;
  scope.closures[index] = fieldCheck(field);
  if (field instanceof protobuf.MapField || field.repeated) return slow;
  const t = field.resolvedType;
  if (t instanceof protobuf.Enum) return 'typeof v==="number"&&(v|0)===v'; // open: any int32
  if (t instanceof protobuf.Type) {
    scope.nested[index] = holderOf(t);
    return `H[${index}].ok(v)`;
  }
  switch (field.type) {
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return 'typeof v==="number"&&(v|0)===v';
    case 'uint32':
    case 'fixed32':
      return 'typeof v==="number"&&v>>>0===v';
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return `(typeof v==="number"?Number.isSafeInteger(v):${slow})`;
    case 'uint64':
    case 'fixed64':
      return `(typeof v==="number"?Number.isSafeInteger(v)&&v>=0:${slow})`;
    case 'double':
    case 'float':
      return 'typeof v==="number"';
    case 'bool':
      return 'typeof v==="boolean"';
    case 'string':
      return 'typeof v==="string"';
    case 'bytes':
      return 'v instanceof U8';
    default:
      return slow;
  }
}

interface Scope {
  readonly closures: ValueCheck[];
  readonly nested: Holder[];
}

function holderOf(type: protobuf.Type): Holder {
  const known = holders.get(type);
  if (known !== undefined) return known;
  // Registered before the body is built: a message may contain itself.
  const holder: Holder = { ok: () => false };
  holders.set(type, holder);
  const scope: Scope = { closures: [], nested: [] };
  const lines = [
    'if(typeof m!=="object"||m===null||Object.getPrototypeOf(m)!==OP)return false',
    'var n=0,v',
  ];
  type.fieldsArray.forEach((f, i) => {
    const field = f.resolve();
    // Counts the keys that are fields; the for-in below sees every key, so one more key than
    // fields set means an unknown field (or one set to undefined: the slow check tells).
    lines.push(
      `v=m[${JSON.stringify(field.name)}]`,
      `if(v!==undefined){n++;if(v!==null&&!(${condition(field, i, scope)}))return false}`,
    );
  });
  for (const o of type.oneofsArray) {
    const set = o.oneof.map((name) => `(m[${JSON.stringify(name)}]!=null)`).join('+');
    lines.push(`if(${set}>1)return false`);
  }
  lines.push('for(var k in m)if(--n<0)return false', 'return true');
  holder.lines = lines;
  holder.scope = scope;
  holder.ok = generate(`ok_${type.name}`, lines, scope, undefined) as FastCheck;
  return holder;
}

/**
 * Compiles `lines` into a function of payload `m`. With `miss`, the checker form: every
 * `return false` becomes `return M(m)` and `return true` a plain return, so a good payload
 * costs one call and anything else goes to `miss`.
 */
function generate(
  name: string,
  lines: readonly string[],
  scope: Scope,
  miss: ((payload: unknown) => void) | undefined,
): FastCheck | ((payload: unknown) => void) {
  const body =
    miss === undefined
      ? lines
      : lines.map((l) =>
          l === 'return true' ? 'return' : l.replace(/return false(?=$|\})/g, 'return M(m)'),
        );
  // Built from the reflected schema only (names escaped with JSON.stringify), never from data.
  const factory = new Function(
    'C',
    'H',
    'U8',
    'OP',
    'M',
    `return function ${name.replace(/\W/g, '_')}(m){\n${body.join('\n')}\n}`,
  ) as (
    c: ValueCheck[],
    h: Holder[],
    u8: typeof Uint8Array,
    op: object,
    m: ((payload: unknown) => void) | undefined,
  ) => FastCheck | ((payload: unknown) => void);
  return factory(scope.closures, scope.nested, Uint8Array, Object.prototype, miss);
}

/** The generated predicate of `type`, built on first use and kept. */
export function fastCheckOf(type: protobuf.Type): FastCheck {
  return holderOf(type).ok;
}

/**
 * The predicate of `type` in checker form, made per call site: returns at once for a payload
 * the predicate would pass, and hands anything else to `miss` (which decides and throws). One
 * call on the hot path instead of a wrapper around the predicate.
 */
export function fastCheckerOf(
  type: protobuf.Type,
  miss: (payload: unknown) => void,
): (payload: unknown) => void {
  const holder = holderOf(type);
  return generate(`check_${type.name}`, holder.lines!, holder.scope!, miss) as (
    payload: unknown,
  ) => void;
}
