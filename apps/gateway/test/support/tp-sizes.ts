// The sizes of the gateway's SOME/IP-TP send test, shared by its provider VM, scenario and spec.

/** `nowPlaying`'s title: with its other fields, a 2–4 KiB event (three 1 392-byte segments). */
export const TITLE_BYTES = 3000;
/** `control`'s reason: a response of two segments. */
export const REASON_BYTES = 2500;

/** The title of event `n`: its number first, so the test tells events apart. */
export const titleOf = (n: number): string => String(n).padStart(6, '0').padEnd(TITLE_BYTES, 't');
