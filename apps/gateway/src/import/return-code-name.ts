import { ReturnCode } from '../someip/someip-message.js';

const NAMES = new Map<number, string>(
  Object.entries(ReturnCode).map(([name, code]) => [
    code,
    `E_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`,
  ]),
);

/**
 * The PRS_SOMEIP name of a return code (`E_UNKNOWN_METHOD`), for messages a VM or operator
 * reads; codes the specification reserves are named by range.
 */
export function returnCodeName(code: number): string {
  const name = NAMES.get(code);
  if (name !== undefined) return name;
  if (code >= 0x0b && code <= 0x1f) return 'reserved for generic SOME/IP errors';
  if (code >= 0x20 && code <= 0x5e) return 'a service-specific error';
  return 'not a SOME/IP return code';
}
