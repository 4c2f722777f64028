import protobuf from 'protobufjs';
import { ownPropertyTest } from './own-property-test.js';

const longTypes = (
  protobuf.types as unknown as { long: Readonly<Record<string, number | undefined>> }
).long;

/** The parts of a field the presence test of the generated sizer and writer depends on. */
export interface PresenceInput {
  readonly field: protobuf.Field;
  /** The scalar type: enums as int32. */
  readonly type: string;
  /** The wire type of a scalar, undefined for a message. */
  readonly wireType: number | undefined;
  /** `m.<name>`, escaped. */
  readonly ref: string;
}

/**
 * The generated condition under which an optional singular field is sized and written: set,
 * and (without presence) not its default. Shared at generation time so the sizer and the writer
 * can never disagree on which fields are on the wire.
 */
export function presenceTest({ field, type, wireType, ref }: PresenceInput): string {
  const resolved = field.resolvedType;
  const isEnum = resolved instanceof protobuf.Enum;
  const present = `${ref}!=null&&${ownPropertyTest(field.name)}`;
  if (field.hasPresence || !(isEnum || wireType !== undefined)) return present;
  if (isEnum) return `${present}&&${ref}!==${JSON.stringify(field.typeDefault)}`;
  if (type === 'bool') return `${present}&&${ref}!==false`;
  if (type === 'string') return `${present}&&${ref}!==""`;
  if (type === 'bytes') return `${present}&&${ref}.length`;
  if (type === 'double' || type === 'float') return `${present}&&!Object.is(${ref},0)`;
  if (longTypes[type] !== undefined)
    return `${present}&&(typeof ${ref}==="object"?${ref}.low||${ref}.high:${ref}!==0)`;
  return `${present}&&${ref}!==0`;
}
