import { InvalidArgumentError } from 'commander';

const hexOf = (n: number): string => `0x${n.toString(16).toUpperCase()}`;

/**
 * A whole number from the command line, decimal or 0x hex, in `min..max`; anything else is a
 * usage error that names the allowed range.
 */
export function wholeNumber(text: string, what: string, min: number, max: number): number {
  const v = /^0x[0-9a-f]+$/i.test(text)
    ? parseInt(text, 16)
    : /^\d+$/.test(text)
      ? Number(text)
      : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    // Ids are written in hex in the docs and in `sivshm status`; counts and times in decimal.
    const range =
      max === 0xffff || max === 0xffff_ffff ? `${min}..${hexOf(max)}` : `${min}..${max}`;
    throw new InvalidArgumentError(
      `${what} "${text}" must be a whole number ${range} (decimal or 0x hex)`,
    );
  }
  return v;
}
