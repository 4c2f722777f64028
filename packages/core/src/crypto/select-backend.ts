import { CoreError } from '../errors/core-error.js';
import type { CryptoBackend, CryptoBackendName } from './crypto-backend.js';
import { nobleBackend } from './noble-backend.js';
import { nodeBackend } from './node-backend.js';

const BACKENDS: Readonly<Record<CryptoBackendName, CryptoBackend>> = Object.freeze({
  node: nodeBackend,
  noble: nobleBackend,
});

/** Environment variable that picks the backend when no name is passed. */
export const CRYPTO_BACKEND_ENV = 'SIVSHM_CRYPTO';

/**
 * The crypto backend called `name`; without a name, the one named by `SIVSHM_CRYPTO`, else
 * `'node'`.
 *
 * Use it once in a composition root and inject the result; library code takes a
 * `CryptoBackend` parameter instead of calling this. An unknown name (argument or environment)
 * throws `ERR_CRYPTO_INPUT` rather than falling back, so a typo cannot silently change which
 * implementation guards the car.
 *
 * @example
 * ```ts
 * const crypto = cryptoBackend();          // node, or SIVSHM_CRYPTO=noble
 * const pure = cryptoBackend('noble');
 * ```
 */
export function cryptoBackend(name?: CryptoBackendName): CryptoBackend {
  const chosen: unknown = name ?? process.env[CRYPTO_BACKEND_ENV] ?? 'node';
  if (typeof chosen === 'string' && Object.hasOwn(BACKENDS, chosen)) {
    return BACKENDS[chosen as CryptoBackendName];
  }
  const source = name === undefined ? `${CRYPTO_BACKEND_ENV}=` : '';
  throw new CoreError(
    'ERR_CRYPTO_INPUT',
    `unknown crypto backend ${source}${JSON.stringify(chosen)}: expected one of ${Object.keys(BACKENDS).join(', ')}`,
  );
}
