/** A 16-bit SOME/IP id as four hex digits, for messages ("0x" is written by the caller). */
export function hexId(v: number): string {
  return v.toString(16).padStart(4, '0');
}
