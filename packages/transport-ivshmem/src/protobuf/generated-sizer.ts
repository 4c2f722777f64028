import protobuf from 'protobufjs';
import { ownPropertyTest, PLAIN_OBJECT_ARGS, PLAIN_OBJECT_LINE } from './own-property-test.js';
import type { Field, Type } from 'protobufjs';
import { presenceTest } from './field-presence.js';
import { isLongObject, varint32Size, varint64Size } from './sizing-writer.js';

const { Enum, LongBits, utf8 } = { Enum: protobuf.Enum, ...protobuf.util };
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

/** Size in bytes of one message's encoding (without its own tag or length prefix). */
export type SizeFunction = (message: object, depth: number) => number;

type Int64Input = Parameters<typeof LongBits.from>[0];

/**
 * Sizes of single values, each mirroring the stock writer method of the same name: the same
 * coercions, the same conversions that can throw (so a message that cannot be encoded fails
 * here, before the target is touched), and for strings and bytes the length prefix included.
 */
const H = {
  v32: varint32Size,
  int32(value: number): number {
    return (value |= 0) < 0 ? 10 : varint32Size(value);
  },
  uint32(value: number): number {
    return varint32Size(value >>> 0);
  },
  sint32(value: number): number {
    return varint32Size(((value << 1) ^ (value >> 31)) >>> 0);
  },
  uint64(value: Int64Input): number {
    return isLongObject(value)
      ? varint64Size(value.low >>> 0, value.high >>> 0)
      : LongBits.from(value).length();
  },
  sint64(value: Int64Input): number {
    if (isLongObject(value)) {
      const lo = value.low >>> 0;
      const hi = value.high >>> 0;
      const mask = hi >> 31;
      return varint64Size(((lo << 1) ^ mask) >>> 0, (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0);
    }
    return LongBits.from(value).zzEncode().length();
  },
  fixed64(value: Int64Input): number {
    if (!isLongObject(value)) LongBits.from(value); // the stock writer converts (and may throw)
    return 8;
  },
  string(value: string): number {
    const n = value.length;
    if (!n) return 1;
    const len = n < 0x80 && n < 40 ? utf8.length(value) : Buffer.byteLength(value);
    return varint32Size(len) + len;
  },
  bytes(value: Uint8Array | string): number {
    const len =
      (typeof value === 'string' || (value as unknown) instanceof String
        ? Buffer.from(String(value), 'base64')
        : value
      ).length >>> 0;
    return varint32Size(len) + len;
  },
  /** Packed varints: the content, then its length prefix. */
  packed(value: readonly unknown[], each: (v: never) => number): number {
    let len = 0;
    for (let i = 0; i < value.length; ++i) len += each(value[i] as never);
    return varint32Size(len) + len;
  },
  packedFixed(value: readonly unknown[], width: number, long: boolean): number {
    if (long) for (let i = 0; i < value.length; ++i) LongBits.from(value[i] as Int64Input);
    const len = value.length * width;
    return varint32Size(len) + len;
  },
};

/** JS expression for the size of a value of basic `type` held in `ref` (no tag). */
function valueSize(type: string, ref: string): string {
  switch (type) {
    case 'double':
      return '8';
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return '4';
    case 'bool':
      return '1';
    case 'int64':
    case 'uint64':
      return `H.uint64(${ref})`;
    case 'fixed64':
    case 'sfixed64':
      return `H.fixed64(${ref})`;
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'sint64':
    case 'string':
    case 'bytes':
      return `H.${type}(${ref})`;
    default:
      throw new Error(`no size rule for protobuf type ${type}`);
  }
}

/** JS expression for the size of a packed repeated field of `type` held in `ref`. */
function packedSize(type: string, ref: string): string {
  switch (type) {
    case 'bool':
      return `H.packedFixed(${ref},1,false)`;
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return `H.packedFixed(${ref},4,false)`;
    case 'double':
      return `H.packedFixed(${ref},8,false)`;
    case 'fixed64':
    case 'sfixed64':
      return `H.packedFixed(${ref},8,true)`;
    case 'int64':
      return `H.packed(${ref},H.uint64)`;
    default:
      return `H.packed(${ref},H.${type})`;
  }
}

interface Holder {
  size: SizeFunction;
  /** The `fieldsArray` the function was generated from; protobufjs replaces it on schema edits. */
  fields: readonly Field[] | undefined;
}

const holders = new WeakMap<Type, Holder>();

/**
 * A size function generated for one reflection type: the arithmetic of protobufjs's encoder
 * (same field order, same presence rules, same coercions) without a writer behind it.
 *
 * Faster than running the encoder against a counting writer (`encodedLength`; figures in
 * docs/performance.md §5), which matters because the ring lane sizes every message
 * once to loan its slot. The generator follows `protobufjs/src/encoder.js` of protobufjs 8 line by line;
 * the encode specs and the fast-check property check every size against `encode().finish()`.
 */
export function sizerOf(type: Type): SizeFunction {
  const known = holders.get(type);
  // A type edited after generation (a field added through reflection) is generated again;
  // nested types are checked when they are sized on their own. Either way encodeInto verifies
  // the count it wrote, so a stale size fails loudly instead of writing past the slot.
  if (known !== undefined && known.fields === type.fieldsArray) return known.size;
  return holderOf(type, true).size;
}

function holderOf(type: Type, regenerate = false): Holder {
  const known = holders.get(type);
  if (known !== undefined && !regenerate) return known;
  // Type#setup resolves features (field presence, packing) before codecs are generated; it
  // replaces the prototype's lazy `encode` with an own one, so an own `encode` means done.
  if (!Object.hasOwn(type, 'encode')) type.setup();
  // Registered before nested types are generated: a message may contain itself. An existing
  // holder is refilled in place, so functions that call it keep working.
  const holder: Holder = known ?? { size: () => 0, fields: undefined };
  holders.set(type, holder);
  const nested: Holder[] = [];
  const fieldsArray = type.fieldsArray;
  const fields = fieldsArray.slice().sort(util.compareFieldsById);
  const lines: string[] = [
    'var n=0,l,e',
    PLAIN_OBJECT_LINE,
    'if(q>util.recursionLimit)throw Error("max depth exceeded")',
  ];
  for (const f of fields) {
    const field = f.resolve();
    const index = fieldsArray.indexOf(field);
    if (field.resolvedType instanceof protobuf.Type) nested[index] = holderOf(field.resolvedType);
    lines.push(...fieldSizeLines(field, index));
  }
  lines.push(
    `if(m.$unknowns!=null&&${ownPropertyTest('$unknowns')})`,
    'for(var i=0;i<m.$unknowns.length;++i)n+=m.$unknowns[i].length>>>0',
    'return n',
  );
  // Same technique as protobufjs's own codegen: the body is built from the reflected schema
  // only (names are escaped with JSON.stringify / util.safeProp), never from message data.
  const factory = new Function(
    'H',
    'S',
    'util',
    'hasOwn',
    'getProto',
    'OP',
    `return function size_${type.name.replace(/\W/g, '_')}(m,q){\n${lines.join('\n')}\n}`,
  ) as (
    h: typeof H,
    s: Holder[],
    u: typeof protobuf.util,
    has: typeof Object.prototype.hasOwnProperty,
    ...plainObject: typeof PLAIN_OBJECT_ARGS
  ) => SizeFunction;
  holder.size = factory(
    H,
    nested,
    protobuf.util,
    Object.prototype.hasOwnProperty,
    ...PLAIN_OBJECT_ARGS,
  );
  holder.fields = fieldsArray;
  return holder;
}

/** What the generated body knows of one field: its reference, wire type and tag sizes. */
interface FieldCode {
  readonly field: protobuf.Field;
  /** The scalar type to size: enums size as int32. */
  readonly type: string;
  /** The wire type of a scalar, undefined for a message. */
  readonly wireType: number | undefined;
  /** `m.<name>`, escaped. */
  readonly ref: string;
  /** The size function of the nested message type: `S[index].size`. */
  readonly sub: string;
  readonly tag: (wireType: number) => number;
}

/** The lines of the generated body that add one field's encoded size to `n`. */
function fieldSizeLines(field: protobuf.Field, index: number): string[] {
  const type = field.resolvedType instanceof Enum ? 'int32' : field.type;
  const code: FieldCode = {
    field,
    type,
    wireType: wireTypes.basic[type],
    ref: `m${util.safeProp(field.name)}`,
    sub: `S[${index}].size`,
    tag: (wt) => varint32Size(((field.id << 3) | wt) >>> 0),
  };
  if (field.map) return mapSizeLines(code);
  if (field.repeated) return repeatedSizeLines(code);
  return singularSizeLines(code);
}

function mapSizeLines({ field, type, wireType, ref, sub, tag }: FieldCode): string[] {
  const keyType = (field as unknown as protobuf.MapField).keyType;
  const key =
    keyType === 'bool'
      ? '1'
      : wireTypes.long[keyType] !== undefined
        ? valueSize(
            keyType,
            `util.longFromKey(ks[i],${keyType === 'uint64' || keyType === 'fixed64'})`,
          )
        : valueSize(keyType, 'ks[i]');
  const value =
    wireType === undefined
      ? `(l=${sub}(${ref}[ks[i]],q+1),1+H.v32(l)+l)`
      : `1+${valueSize(type, `${ref}[ks[i]]`)}`;
  return [
    `if(${ref}!=null&&${ownPropertyTest(field.name)}){`,
    `for(var ks=Object.keys(${ref}),i=0;i<ks.length;++i){`,
    `e=1+${key};e+=${value};n+=${tag(2)}+H.v32(e)+e`,
    '}}',
  ];
}

function repeatedSizeLines({ field, type, wireType, ref, sub, tag }: FieldCode): string[] {
  const lines = [`if(${ref}!=null&&${ref}.length){`];
  if (field.packed && wireTypes.packed[type] !== undefined) {
    lines.push(`n+=${tag(2)}+${packedSize(type, ref)}`);
  } else {
    lines.push(`for(var i=0;i<${ref}.length;++i)`);
    if (wireType === undefined) {
      lines.push(
        field.delimited
          ? `n+=${tag(3)}+${sub}(${ref}[i],q+1)+${tag(4)}`
          : `{l=${sub}(${ref}[i],q+1);n+=${tag(2)}+H.v32(l)+l}`,
      );
    } else {
      lines.push(`n+=${tag(wireType)}+${valueSize(type, `${ref}[i]`)}`);
    }
  }
  lines.push('}');
  return lines;
}

function singularSizeLines(code: FieldCode): string[] {
  const { field, type, wireType, ref, sub, tag } = code;
  const lines: string[] = [];
  if (!field.required) lines.push(`if(${presenceTest(code)})`);
  if (wireType === undefined) {
    lines.push(
      field.delimited
        ? `n+=${tag(3)}+${sub}(${ref},q+1)+${tag(4)}`
        : `{l=${sub}(${ref},q+1);n+=${tag(2)}+H.v32(l)+l}`,
    );
  } else {
    lines.push(`n+=${tag(wireType)}+${valueSize(type, ref)}`);
  }
  return lines;
}
