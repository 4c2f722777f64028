import { InvalidArgumentError } from 'commander';

// The stop conditions `sivshm capture` and `sivshm record` share (--duration, --count): one
// parser each so both commands accept and refuse the same text with the same message.

/** A `--duration` in seconds: a positive decimal, at most 1e9. */
export function durationSeconds(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(v > 0) || v > 1e9)
    throw new InvalidArgumentError(`duration "${text}" must be a positive number of seconds`);
  return v;
}

/** A `--count` of frames: a whole decimal number, at least 1. */
export function frameCount(text: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < 1)
    throw new InvalidArgumentError(`count "${text}" must be a whole number of frames, at least 1`);
  return v;
}
