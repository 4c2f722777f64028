// The public surface of @sivshm/core, listed by hand.
export { SivshmError } from './errors/sivshm-error.js';
export { CoreError } from './errors/core-error.js';
export type { CoreErrorCode } from './errors/core-error.js';
