import { TransportError } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/** The transport's call failures as `RuntimeError`s that name the service and method. */
export function callError(service: string, method: string, e: unknown): Error {
  if (!TransportError.is(e)) return e as Error;
  const what = `call of '${method}' on '${service}'`;
  switch (e.code) {
    case 'ERR_TIMEOUT':
    case 'ERR_RING_FULL':
      return new RuntimeError('ERR_TIMEOUT', `${what}: ${e.message}`, { cause: e });
    case 'ERR_BUSY':
      // Never sent: the caller may retry (after releasing samples it holds, if it holds any).
      return new RuntimeError('ERR_BUSY', `${what}: ${e.message}`, { cause: e });
    case 'ERR_REMOTE':
      return new RuntimeError('ERR_REMOTE', `${what}: ${e.message}`, { cause: e });
    case 'ERR_PEER_GONE':
    case 'ERR_CLOSED':
      return new RuntimeError('ERR_PEER_GONE', `${what}: the channel ended (${e.message})`, {
        cause: e,
      });
    default:
      // Anything else (e.g. a request that does not encode) is the transport's own, typed.
      return e;
  }
}
