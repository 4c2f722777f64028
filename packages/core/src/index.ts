// The public surface of @sivshm/core, listed by hand.
export { SivshmError } from './errors/sivshm-error.js';
export { CoreError } from './errors/core-error.js';
export type { CoreErrorCode } from './errors/core-error.js';
export type { CryptoBackend, CryptoBackendName } from './crypto/crypto-backend.js';
export {
  GrantLayout,
  RevokeLayout,
  TOKEN_TAG_SIZE,
  GRANT_TAG_LABEL,
  REVOKE_TAG_LABEL,
  GrantRole,
  GrantPerm,
  ChannelModeCode,
  SERIAL_WINDOW,
} from './grant/grant-layout.js';
export type { GrantRoleName, ChannelMode } from './grant/grant-layout.js';
