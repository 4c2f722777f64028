// How every sivshm command prints ids, the same way hostd's status and logs do: lowercase hex
// with 0x. In JSON output 16-bit ids stay numbers (JSON has no hex), 64-bit ids are these strings.

/** A 16-bit SOME/IP id (service, instance, method, event, eventgroup): `0x1234`, `0x0001`. */
export const id16 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** A channel id (u64), as hostd's status document and logs write it: `0x2a`, no padding. */
export const channelIdText = (id: bigint | number): string => `0x${id.toString(16)}`;
