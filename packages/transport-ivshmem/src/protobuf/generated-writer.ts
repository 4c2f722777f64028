import protobuf from 'protobufjs';
import { ownPropertyTest, PLAIN_OBJECT_ARGS, PLAIN_OBJECT_LINE } from './own-property-test.js';
import type { Field, Type } from 'protobufjs';
import { presenceTest } from './field-presence.js';
import { isLongObject } from './sizing-writer.js';

const { Enum, LongBits, utf8 } = { Enum: protobuf.Enum, ...protobuf.util };
const float = protobuf.util.float;
const wireTypes = protobuf.types as unknown as {
  readonly basic: Readonly<Record<string, number | undefined>>;
  readonly packed: Readonly<Record<string, number | undefined>>;
  readonly long: Readonly<Record<string, number | undefined>>;
  readonly mapKey: Readonly<Record<string, number | undefined>>;
};
const util = protobuf.util as unknown as {
  compareFieldsById(a: Field, b: Field): number;
  safeProp(name: string): string;
};
// Node's native UTF-8 writer; it accepts any Uint8Array as `this`, shared memory included.
const utf8Write = (
  Buffer.prototype as unknown as {
    utf8Write(this: Uint8Array, value: string, offset: number): number;
  }
).utf8Write;

/** Writes one message's encoding (no tag, no length prefix) at `b[p]`; returns the end. */
export type WriteFunction = (message: object, b: Uint8Array, p: number, depth: number) => number;

type Int64Input = Parameters<typeof LongBits.from>[0];

function v32(b: Uint8Array, p: number, v: number): number {
  while (v > 127) {
    b[p++] = (v & 127) | 128;
    v >>>= 7;
  }
  b[p] = v;
  return p + 1;
}

function v64(b: Uint8Array, p: number, lo: number, hi: number): number {
  while (hi) {
    b[p++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  return v32(b, p, lo);
}

function fixed32(b: Uint8Array, p: number, v: number): number {
  b[p] = v & 255;
  b[p + 1] = (v >>> 8) & 255;
  b[p + 2] = (v >>> 16) & 255;
  b[p + 3] = v >>> 24;
  return p + 4;
}

/**
 * Writers of single values, each mirroring the stock writer method of the same name in
 * `protobufjs/src/writer.js` and `writer_buffer.js` (same coercions, same bytes), but writing at
 * a position it returns instead of through a writer object.
 */
const W = {
  v32,
  uint32: (b: Uint8Array, p: number, v: number): number => v32(b, p, v >>> 0),
  int32(b: Uint8Array, p: number, v: number): number {
    if ((v |= 0) >= 0) return v32(b, p, v);
    const bits = LongBits.fromNumber(v); // negatives take 10 bytes, as the spec says
    return v64(b, p, bits.lo, bits.hi);
  },
  sint32: (b: Uint8Array, p: number, v: number): number => v32(b, p, ((v << 1) ^ (v >> 31)) >>> 0),
  uint64(b: Uint8Array, p: number, v: Int64Input): number {
    if (isLongObject(v)) return v64(b, p, v.low >>> 0, v.high >>> 0);
    const bits = LongBits.from(v);
    return v64(b, p, bits.lo, bits.hi);
  },
  sint64(b: Uint8Array, p: number, v: Int64Input): number {
    const bits = LongBits.from(v).zzEncode();
    return v64(b, p, bits.lo, bits.hi);
  },
  bool(b: Uint8Array, p: number, v: unknown): number {
    b[p] = v ? 1 : 0;
    return p + 1;
  },
  fixed32: (b: Uint8Array, p: number, v: number): number => fixed32(b, p, v >>> 0),
  fixed64(b: Uint8Array, p: number, v: Int64Input): number {
    const bits = LongBits.from(v);
    return fixed32(b, fixed32(b, p, bits.lo), bits.hi);
  },
  float(b: Uint8Array, p: number, v: number): number {
    float.writeFloatLE(v, b, p);
    return p + 4;
  },
  double(b: Uint8Array, p: number, v: number): number {
    float.writeDoubleLE(v, b, p);
    return p + 8;
  },
  string(b: Uint8Array, p: number, v: string): number {
    const n = v.length;
    if (!n) {
      b[p] = 0;
      return p + 1;
    }
    if (n < 40) {
      const len = utf8.length(v);
      p = v32(b, p, len);
      return p + utf8.write(v, b, p);
    }
    const len = Buffer.byteLength(v);
    p = v32(b, p, len);
    return p + utf8Write.call(b, v, p);
  },
  bytes(b: Uint8Array, p: number, v: Uint8Array | string): number {
    // Views first: the common case, and a cheaper test than `instanceof String`.
    const value =
      ArrayBuffer.isView(v) || !(typeof v === 'string' || (v as unknown) instanceof String)
        ? v
        : Buffer.from(String(v), 'base64');
    const len = value.length >>> 0;
    p = v32(b, p, len);
    if (len) b.set(value, p);
    return p + len;
  },
  /** Backfills a length reserved as one byte at `at`, as `Writer#ldelim` does. */
  delim(b: Uint8Array, at: number, end: number): number {
    const len = end - at - 1;
    const n = len < 128 ? 1 : len < 16384 ? 2 : len < 2097152 ? 3 : len < 268435456 ? 4 : 5;
    if (n > 1) b.copyWithin(at + n, at + 1, end);
    v32(b, at, len);
    return at + n + len;
  },
  /** A packed field's values (the `<type>s` writer methods), after its one-byte length. */
  packed(b: Uint8Array, p: number, values: readonly unknown[], each: string): number {
    const at = p++;
    const write = (
      W as unknown as Record<string, (b: Uint8Array, p: number, v: unknown) => number>
    )[each]!;
    for (let i = 0; i < values.length; ++i) p = write(b, p, values[i]);
    return W.delim(b, at, p);
  },
  /** `fixed32s` and the like: the length is known, so it is written first. */
  packedFixed(
    b: Uint8Array,
    p: number,
    values: readonly unknown[],
    width: number,
    each: string,
  ): number {
    p = v32(b, p, (values.length * width) >>> 0);
    const write = (
      W as unknown as Record<string, (b: Uint8Array, p: number, v: unknown) => number>
    )[each]!;
    for (let i = 0; i < values.length; ++i) p = write(b, p, values[i]);
    return p;
  },
};

/** Statement writing a value of basic `type` held in `ref` at `p` (no tag). */
function writeValue(type: string, ref: string): string {
  switch (type) {
    case 'int64':
      return `p=W.uint64(b,p,${ref})`;
    case 'sfixed64':
      return `p=W.fixed64(b,p,${ref})`;
    case 'sfixed32':
      return `p=W.fixed32(b,p,${ref})`;
    default:
      if (!(type in W)) throw new Error(`no write rule for protobuf type ${type}`);
      return `p=W.${type}(b,p,${ref})`;
  }
}

/** Statement writing a packed repeated field's length and values (after its tag). */
function writePacked(type: string, ref: string): string {
  switch (type) {
    case 'bool':
      return `p=W.packedFixed(b,p,${ref},1,"bool")`;
    case 'float':
      return `p=W.packedFixed(b,p,${ref},4,"float")`;
    case 'fixed32':
    case 'sfixed32':
      return `p=W.packedFixed(b,p,${ref},4,"fixed32")`;
    case 'double':
      return `p=W.packedFixed(b,p,${ref},8,"double")`;
    case 'fixed64':
    case 'sfixed64':
      return `p=W.packedFixed(b,p,${ref},8,"fixed64")`;
    case 'int64':
      return `p=W.packed(b,p,${ref},"uint64")`;
    default:
      return `p=W.packed(b,p,${ref},${JSON.stringify(type)})`;
  }
}

interface Holder {
  write: WriteFunction;
  /** The `fieldsArray` the function was generated from; protobufjs replaces it on schema edits. */
  fields: readonly Field[] | undefined;
}

const holders = new WeakMap<Type, Holder>();

/**
 * A write function generated for one reflection type: protobufjs's encoder (same field order,
 * same presence rules, same coercions, the same length backfill) with the writer object and its
 * per-value method calls taken out, writing straight into the target.
 *
 * The ring lane encodes every message into its loaned slot with it; figures in
 * docs/performance.md §5. The generator follows `protobufjs/src/encoder.js` of protobufjs 8 line
 * by line; the encode specs and the fast-check property check every byte against
 * `encode().finish()`.
 */
export function writerOf(type: Type): WriteFunction {
  const known = holders.get(type);
  if (known !== undefined && known.fields === type.fieldsArray) return known.write;
  return holderOf(type, true).write;
}

function holderOf(type: Type, regenerate = false): Holder {
  const known = holders.get(type);
  if (known !== undefined && !regenerate) return known;
  if (!Object.hasOwn(type, 'encode')) type.setup();
  // Registered before nested types are generated: a message may contain itself.
  const holder: Holder = known ?? { write: (_m, _b, p) => p, fields: undefined };
  holders.set(type, holder);
  const nested: Holder[] = [];
  const fieldsArray = type.fieldsArray;
  const fields = fieldsArray.slice().sort(util.compareFieldsById);
  const lines: string[] = [
    'var a',
    PLAIN_OBJECT_LINE,
    'if(q>util.recursionLimit)throw Error("max depth exceeded")',
  ];
  for (const f of fields) {
    const field = f.resolve();
    const index = fieldsArray.indexOf(field);
    if (field.resolvedType instanceof protobuf.Type) nested[index] = holderOf(field.resolvedType);
    lines.push(...fieldWriteLines(field, index));
  }
  lines.push(
    `if(m.$unknowns!=null&&${ownPropertyTest('$unknowns')})`,
    'for(var i=0;i<m.$unknowns.length;++i){a=m.$unknowns[i];if(a.length>>>0){b.set(a,p);p+=a.length>>>0}}',
    'return p',
  );
  // Same technique as protobufjs's own codegen: the body is built from the reflected schema
  // only (names are escaped with JSON.stringify / util.safeProp), never from message data.
  const factory = new Function(
    'W',
    'S',
    'util',
    'hasOwn',
    'getProto',
    'OP',
    `return function write_${type.name.replace(/\W/g, '_')}(m,b,p,q){\n${lines.join('\n')}\n}`,
  ) as (
    w: typeof W,
    s: Holder[],
    u: typeof protobuf.util,
    has: typeof Object.prototype.hasOwnProperty,
    ...plainObject: typeof PLAIN_OBJECT_ARGS
  ) => WriteFunction;
  holder.write = factory(
    W,
    nested,
    protobuf.util,
    Object.prototype.hasOwnProperty,
    ...PLAIN_OBJECT_ARGS,
  );
  holder.fields = fieldsArray;
  return holder;
}

/** What the generated body knows of one field. */
interface FieldCode {
  readonly field: protobuf.Field;
  /** The scalar type to write: enums write as int32. */
  readonly type: string;
  /** The wire type of a scalar, undefined for a message. */
  readonly wireType: number | undefined;
  /** `m.<name>`, escaped. */
  readonly ref: string;
  /** The write function of the nested message type: `S[index].write`. */
  readonly sub: string;
  /** The statement writing the tag of wire type `wt`. */
  readonly tag: (wireType: number) => string;
}

function fieldWriteLines(field: protobuf.Field, index: number): string[] {
  const type = field.resolvedType instanceof Enum ? 'int32' : field.type;
  const code: FieldCode = {
    field,
    type,
    wireType: wireTypes.basic[type],
    ref: `m${util.safeProp(field.name)}`,
    sub: `S[${index}].write`,
    tag: (wt) => tagWrite(((field.id << 3) | wt) >>> 0),
  };
  if (field.map) return mapWriteLines(code);
  if (field.repeated) return repeatedWriteLines(code);
  return singularWriteLines(code);
}

/** A tag is a constant: one store while it fits a byte, else the varint writer. */
function tagWrite(tag: number): string {
  return tag < 128 ? `b[p++]=${tag}` : `p=W.v32(b,p,${tag})`;
}

/** A nested message, length-delimited (`fork` … `ldelim`) or as a group. */
function messageWrite({ field, sub, tag }: FieldCode, value: string): string {
  return field.delimited
    ? `${tag(3)};p=${sub}(${value},b,p,q+1);${tag(4)}`
    : `${tag(2)};a=p++;p=${sub}(${value},b,p,q+1);p=W.delim(b,a,p)`;
}

function mapWriteLines(code: FieldCode): string[] {
  const { field, type, wireType, ref, sub, tag } = code;
  const keyType = (field as unknown as protobuf.MapField).keyType;
  const keyTag = `p=W.v32(b,p,${8 | wireTypes.mapKey[keyType]!})`;
  const key =
    keyType === 'bool'
      ? writeValue('bool', 'util.boolFromKey(ks[i])')
      : wireTypes.long[keyType] !== undefined
        ? writeValue(
            keyType,
            `util.longFromKey(ks[i],${keyType === 'uint64' || keyType === 'fixed64'})`,
          )
        : writeValue(keyType, 'ks[i]');
  const value =
    wireType === undefined
      ? `p=W.v32(b,p,18);var c=p++;p=${sub}(${ref}[ks[i]],b,p,q+1);p=W.delim(b,c,p)`
      : `p=W.v32(b,p,${16 | wireType});${writeValue(type, `${ref}[ks[i]]`)}`;
  return [
    `if(${ref}!=null&&${ownPropertyTest(field.name)}){`,
    `for(var ks=Object.keys(${ref}),i=0;i<ks.length;++i){`,
    `${tag(2)};a=p++;${keyTag};${key};${value};p=W.delim(b,a,p)`,
    '}}',
  ];
}

function repeatedWriteLines(code: FieldCode): string[] {
  const { field, type, wireType, ref, tag } = code;
  const lines = [`if(${ref}!=null&&${ref}.length){`];
  if (field.packed && wireTypes.packed[type] !== undefined) {
    lines.push(`${tag(2)};${writePacked(type, ref)}`);
  } else {
    lines.push(`for(var i=0;i<${ref}.length;++i){`);
    lines.push(
      wireType === undefined
        ? messageWrite(code, `${ref}[i]`)
        : `${tag(wireType)};${writeValue(type, `${ref}[i]`)}`,
    );
    lines.push('}');
  }
  lines.push('}');
  return lines;
}

function singularWriteLines(code: FieldCode): string[] {
  const { field, type, wireType, ref, tag } = code;
  const write =
    wireType === undefined ? messageWrite(code, ref) : `${tag(wireType)};${writeValue(type, ref)}`;
  if (field.required) return [`{${write}}`];
  return [`if(${presenceTest(code)}){${write}}`];
}
