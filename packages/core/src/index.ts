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
export {
  parseConfig,
  MAX_CONFIG_SIZE,
  CONFIG_VERSION,
  DEFAULT_VM_LIMITS,
} from './config/parse-config.js';
export type { ParseConfigOptions } from './config/parse-config.js';
export { loadConfig } from './config/load-config.js';
export { formatConfigIssue, isConfigError } from './config/config-issue.js';
export type { ConfigIssue, ConfigError } from './config/config-issue.js';
export { configLocationOf } from './config/config-location.js';
export type { ConfigLocation } from './config/config-location.js';
export { resolveGrantKey, GRANT_KEY_SIZE } from './config/grant-key.js';
export type { ResolveGrantKeyOptions } from './config/grant-key.js';
export { mayOffer, mayConsume, serviceById, vmById, vmByName } from './config/config-policy.js';
export {
  CHANNEL_ENTRY_MAX_SIZE,
  MIN_REGION_SIZE,
  MIN_WINDOW_SIZE,
  DEFAULT_CHANNEL_CAPACITY,
} from './config/region-budget.js';
export type { ProtoFileReader } from './config/proto-loader.js';
export type {
  ServiceConfig,
  RegionConfig,
  VmConfig,
  VmLimits,
  GrantKeySource,
  ServiceDefinition,
  EventgroupDefinition,
  EventDefinition,
  MethodDefinition,
} from './config/config-types.js';
export { nobleBackend } from './crypto/noble-backend.js';
export { nodeBackend } from './crypto/node-backend.js';
export { cryptoBackend, CRYPTO_BACKEND_ENV } from './crypto/select-backend.js';
export { checkEd25519PublicKey } from './crypto/ed25519-public-key-check.js';
export { equalConstantTime } from './crypto/constant-time.js';
export {
  concatBytes,
  utf8ToBytes,
  bytesToUtf8,
  bytesToHex,
  hexToBytes,
  writeU64LE,
  readU64LE,
} from './crypto/bytes.js';
