import { createRequire } from 'node:module';
import { CoreError } from '../errors/core-error.js';
import type { CryptoBackend, CryptoBackendName } from './crypto-backend.js';
import { nodeBackend } from './node-backend.js';

// The noble backend is loaded on first use, synchronously (require of an ES module, Node
// >= 20.19): its @noble/* modules are a measurable part of every process's start-up
// (docs/performance.md §4) and a process on `node:crypto` never calls them. A bundled app that
// picks noble must keep noble-backend.js resolvable beside this file.
const requireOnFirstUse = createRequire(import.meta.url);
let nobleLoaded: CryptoBackend | undefined;
function noble(): CryptoBackend {
  nobleLoaded ??= (requireOnFirstUse('./noble-backend.js') as { nobleBackend: CryptoBackend })
    .nobleBackend;
  return nobleLoaded;
}

const BACKENDS: Readonly<Record<CryptoBackendName, () => CryptoBackend>> = Object.freeze({
  node: () => nodeBackend,
  noble,
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
    return BACKENDS[chosen as CryptoBackendName]();
  }
  const source = name === undefined ? `${CRYPTO_BACKEND_ENV}=` : '';
  throw new CoreError(
    'ERR_CRYPTO_INPUT',
    `unknown crypto backend ${source}${JSON.stringify(chosen)}: expected one of ${Object.keys(BACKENDS).join(', ')}`,
  );
}
