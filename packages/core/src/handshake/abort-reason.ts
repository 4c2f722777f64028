/**
 * Reason codes carried by ABORT (docs/protocol.md §6). Numeric values are on the wire: never
 * reuse.
 */
export const AbortReason = {
  malformed: 1,
  unexpected: 2,
  rateLimited: 3,
  tooManyPending: 4,
  certificate: 5,
  notAuthorized: 6,
  linkMismatch: 7,
  replay: 8,
  noProvider: 9,
  mode: 10,
  signature: 11,
  noSpace: 12,
  timeout: 13,
  peerAbort: 14,
  grant: 15,
  keyAgreement: 16,
  version: 17,
} as const;

export type AbortReasonName = keyof typeof AbortReason;

/** The name of a numeric reason code, or `'unknown'`. */
export function abortReasonName(code: number): AbortReasonName | 'unknown' {
  const hit = (Object.keys(AbortReason) as AbortReasonName[]).find((k) => AbortReason[k] === code);
  return hit ?? 'unknown';
}
