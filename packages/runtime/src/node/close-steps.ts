import { RuntimeError } from '../errors/runtime-error.js';

/**
 * Runs every close step in order, each even when an earlier one failed (a failed StopOffer must
 * not keep the fds open), and throws one `ERR_CLOSED` carrying all failures at the end.
 */
export async function closeSteps(what: string, steps: Iterable<() => unknown>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) {
    throw new RuntimeError('ERR_CLOSED', `${what} failed in ${errors.length} step(s)`, {
      cause: new AggregateError(errors),
    });
  }
}
