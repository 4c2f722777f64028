import protobuf from 'protobufjs';

const { safeProp } = protobuf.util as unknown as { safeProp(name: string): string };

/**
 * The first line of a generated size or write function: whether `m` is a plain object, whose
 * prototype chain is `Object.prototype` alone. Needs the parameters `getProto` and `OP`. A
 * missing message (a required nested field left out) is no plain object and fails on its first
 * field read, with the stock encoder's error.
 */
export const PLAIN_OBJECT_LINE = 'var plain=m!=null&&getProto(m)===OP';

/** The values the generated functions receive as `getProto` and `OP`. */
export const PLAIN_OBJECT_ARGS = [Object.getPrototypeOf, Object.prototype] as const;

/**
 * The generated test that message `m` holds field `name` as its own property, which
 * protobufjs's encoder asks with `Object.prototype.hasOwnProperty.call` once it has found
 * `m.name != null`.
 *
 * The builtin call costs more than the rest of a small field's work, and every field asks it
 * twice on the ring lane (sizing, then writing; figures in docs/performance.md §5). For a plain
 * object a non-null `m.name` is its own unless `Object.prototype` itself holds a non-null
 * `name`, so one load from `Object.prototype` answers instead; class instances, objects without
 * a prototype and names `Object.prototype` defines (`constructor`, `toString`, `__proto__`, …)
 * still take the call. A polluted `Object.prototype.name` makes the load non-null and so also
 * takes the call: inherited values are never encoded, as with the stock encoder.
 */
export function ownPropertyTest(name: string): string {
  const literal = JSON.stringify(name);
  if (name in Object.prototype) return `hasOwn.call(m,${literal})`;
  return `(plain&&OP${safeProp(name)}==null||hasOwn.call(m,${literal}))`;
}
