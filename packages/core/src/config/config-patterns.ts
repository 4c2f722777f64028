/** What the names and strings of services.yaml must look like, with the words a message uses. */
import type { IntegerStyle } from './yaml-reader.js';

/** A string rule for `YamlReader.string`. */
export interface StringPattern {
  readonly pattern: RegExp;
  readonly describe: string;
}

export const VM_NAME: StringPattern = {
  pattern: /^[A-Za-z][A-Za-z0-9_-]{0,62}$/,
  describe: "a name of letters, digits, '-' or '_' that starts with a letter (at most 63 chars)",
};

/** Service, eventgroup, event and method names. */
export const MEMBER_NAME: StringPattern = {
  pattern: /^[A-Za-z][A-Za-z0-9_]{0,62}$/,
  describe: "an identifier of letters, digits or '_' that starts with a letter (at most 63 chars)",
};

export const PROTO_TYPE: StringPattern = {
  pattern: /^\.?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/,
  describe: 'a fully qualified protobuf message name such as sivshm.demo.VehicleSpeed',
};

export const ENV_NAME: StringPattern = {
  pattern: /^[A-Za-z_][A-Za-z0-9_]*$/,
  describe: "an environment variable name (letters, digits, '_')",
};

export const KEY_HEX: StringPattern = {
  pattern: /^[0-9a-fA-F]{64}$/,
  describe: '64 hex digits (a 32-byte key)',
};

export const NON_EMPTY: StringPattern = { pattern: /\S/, describe: 'a non-empty path' };

/** SOME/IP service, instance, eventgroup, event and method ids are shown as 0xNNNN. */
export const U16_ID: IntegerStyle = { hexDigits: 4 };
