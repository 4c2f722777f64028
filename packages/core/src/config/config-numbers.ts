/**
 * Integer and size notation accepted by services.yaml, parsed from the scalar's source text.
 *
 * Parsing the text ourselves (instead of trusting YAML's number resolution) keeps the rules the
 * same whatever YAML version a reader assumes: `0o17`, `1e3`, `.5` or `0b1` are refused rather
 * than silently turned into numbers, and `0x1_0000` reads the way an engineer meant it.
 */

const DECIMAL = /^-?[0-9]+(?:_[0-9]+)*$/;
const HEX = /^-?0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*$/;
const SIZE = /^(0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|[0-9]+(?:_[0-9]+)*)\s*(KiB|MiB|GiB)?$/;

const UNIT = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

/**
 * Reads a decimal or `0x` hex integer (underscores allowed between digits).
 *
 * Returns undefined when `text` is not such an integer or does not fit a safe JS integer.
 *
 * @example
 * ```ts
 * parseConfigInteger('0x1234'); // 4660
 * parseConfigInteger('1_000'); // 1000
 * parseConfigInteger('1e3'); // undefined
 * ```
 */
export function parseConfigInteger(text: string): number | undefined {
  const t = text.trim();
  let n: number;
  if (HEX.test(t)) {
    const neg = t.startsWith('-');
    const digits = t.slice(neg ? 3 : 2).replaceAll('_', '');
    n = Number.parseInt(digits, 16);
    if (neg) n = -n;
  } else if (DECIMAL.test(t)) {
    n = Number.parseInt(t.replaceAll('_', ''), 10);
  } else {
    return undefined;
  }
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Reads a byte size: an integer (decimal or `0x` hex) optionally followed by `KiB`, `MiB` or
 * `GiB` (binary units only: `MB` would be ambiguous, so it is refused).
 *
 * @example
 * ```ts
 * parseConfigSize('16MiB'); // 16777216
 * parseConfigSize('4096'); // 4096
 * parseConfigSize('16MB'); // undefined
 * ```
 */
export function parseConfigSize(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return undefined;
  const base = parseConfigInteger(m[1] ?? '');
  if (base === undefined) return undefined;
  const unit = m[2] as keyof typeof UNIT | undefined;
  const n = unit ? base * UNIT[unit] : base;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Formats `n` as `0x` hex padded to `digits` (e.g. `0x00FF`), the way SOME/IP ids are written. */
export function formatHex(n: number, digits: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(digits, '0')}`;
}

/** Formats a byte count with the largest binary unit that divides it (`16 MiB`, `24 KiB`). */
export function formatSize(bytes: number): string {
  for (const [unit, f] of [
    ['GiB', UNIT.GiB],
    ['MiB', UNIT.MiB],
    ['KiB', UNIT.KiB],
  ] as const) {
    if (bytes >= f && bytes % f === 0) return `${bytes / f} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** True for a positive power of two that is a safe integer. */
export function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n <= 0) return false;
  // Bitwise ops truncate to 32 bits, so test larger values by repeated halving.
  let v = n;
  while (v > 1) {
    if (v % 2 !== 0) return false;
    v /= 2;
  }
  return true;
}
