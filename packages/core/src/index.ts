// The public surface of @sivshm/core, listed by hand.
export { SivshmError } from './errors/sivshm-error.js';
export { CoreError } from './errors/core-error.js';
export type { CoreErrorCode } from './errors/core-error.js';
export type { CryptoBackend, CryptoBackendName } from './crypto/crypto-backend.js';
export { parseConfig, MAX_CONFIG_SIZE } from './config/parse-config.js';
export { CONFIG_VERSION } from './config/config-builder.js';
export { DEFAULT_VM_LIMITS } from './config/vm-limits-section.js';
export type { ParseConfigOptions } from './config/parse-config.js';
export { loadConfig } from './config/load-config.js';
export { formatConfigIssue, isConfigError } from './config/config-issue.js';
export type { ConfigIssue, ConfigError } from './config/config-issue.js';
export { configLocationOf } from './config/config-location.js';
export type { ConfigLocation } from './config/config-location.js';
export { resolveGrantKey } from './config/grant-key.js';
export type { ResolveGrantKeyOptions } from './config/grant-key.js';
export { mayOffer, mayConsume, serviceById, vmById, vmByName } from './config/config-policy.js';
export { DEFAULT_CHANNEL_CAPACITY } from './config/region-budget.js';
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
export { cryptoSelfTest } from './crypto/crypto-self-test.js';
export { handshakeSelfTest } from './handshake/handshake-self-test.js';
export {
  concatBytes,
  utf8ToBytes,
  bytesToUtf8,
  bytesToHex,
  hexToBytes,
  writeU64LE,
  readU64LE,
} from './crypto/bytes.js';
// Certificates, enrolment and the CA (PROTOCOL.md §2).
export {
  encodeCertificate,
  decodeCertificate,
  encodeCertificateBody,
  decodeCertificateBody,
  verifyCertificate,
  certificateHash,
  keyId,
  CERT_VERSION,
} from './cert/certificate.js';
export type {
  Certificate,
  CertificateBody,
  CertificateKind,
  CertificateCheck,
} from './cert/certificate.js';
export { createCsr, verifyCsr } from './cert/csr.js';
export type { CsrBody } from './cert/csr.js';
export { CertificateAuthority } from './cert/certificate-authority.js';
export type { AuthorityKeys, CertificateAuthorityOptions } from './cert/certificate-authority.js';
export {
  canonicalRights,
  intersectRights,
  mayOfferRight,
  mayRequestRight,
  MAX_RIGHTS_PER_LIST,
} from './cert/rights.js';
export type { Rights, OfferRight, RequestRight } from './cert/rights.js';
// Grant and revoke tokens (PROTOCOL.md §4).
export { encodeGrant, decodeGrant } from './grant/grant-token.js';
export type { GrantToken, GrantDecodeResult, GrantDecodeFailure } from './grant/grant-token.js';
export { grantTag, signGrant, verifyGrant, windowInsideData } from './grant/grant-verify.js';
export type { GrantCheckContext, GrantVerdict, GrantRejectReason } from './grant/grant-verify.js';
export { encodeRevoke, signRevoke, verifyRevoke } from './grant/revoke-token.js';
export type { RevokeToken, RevokeVerdict } from './grant/revoke-token.js';
export { SerialWindow } from './grant/serial-window.js';
// The handshake (PROTOCOL.md §3).
export { ConsumerHandshake } from './handshake/consumer-handshake.js';
export type { ChannelRequest, ConsumerHandshakeOptions } from './handshake/consumer-handshake.js';
export { ProviderHandshakes } from './handshake/provider-handshake.js';
export type { ProviderPolicy, ProviderHandshakesOptions } from './handshake/provider-handshake.js';
export { BrokerHandshakes } from './handshake/broker-handshake.js';
export type { BrokerOptions } from './handshake/broker-handshake.js';
export type { BrokerLimits } from './handshake/broker-budgets.js';
export type {
  BrokerEffect,
  BrokerChannel,
  BrokerStats,
  ChannelCloseReason,
  OfferedService,
  Window,
} from './handshake/broker-types.js';
export { peekControl } from './handshake/peek-control.js';
export { MODE_RANK } from './handshake/handshake-types.js';
export type {
  TrustAnchors,
  EndpointIdentity,
  ChannelGrant,
  EndpointEffect,
} from './handshake/handshake-types.js';
export { AbortReason, abortReasonName } from './handshake/abort-reason.js';
export type { AbortReasonName } from './handshake/abort-reason.js';
export { deriveChannelKeys } from './handshake/channel-keys.js';
export type { ChannelKeys } from './handshake/channel-keys.js';
export { FrameSealer, FrameOpener, FRAME_OVERHEAD } from './handshake/frame-protection.js';
export type { Direction, FrameProtectionOptions } from './handshake/frame-protection.js';
export { MessageType, decodeHandshakeMessage } from './handshake/handshake-messages.js';
export type { HandshakeMessage } from './handshake/handshake-messages.js';
// Utilities the other packages build on.
export { TokenBucket } from './util/token-bucket.js';
export { systemClock } from './util/clock.js';
export type { Clock } from './util/clock.js';
export { packageRoot } from './util/package-root.js';
export { encodeProto, decodeProto, protoRoot } from './wire/proto-codec.js';
export type { ProtoObject } from './wire/proto-codec.js';
// Dependency injection.
export { CoreTokens } from './di/core-tokens.js';
export { coreModule, configLimits } from './di/core-module.js';
export type { CoreModuleOptions } from './di/core-module.js';
export { certificateToPem, certificateFromFile } from './cert/certificate-pem.js';
export { initCaDirectory, openCaDirectory } from './cert/ca-store.js';
export type { CaState, OpenedCa } from './cert/ca-store.js';
export { configRights, WHOLE_SERVICE_METHODS } from './config/config-rights.js';
// The control link between hostd and a VM (ARCHITECTURE.md §5).
export {
  encodeControlFrame,
  ControlFrameDecoder,
  MAX_CONTROL_FRAME_SIZE,
  CONTROL_FRAME_HEADER_SIZE,
} from './control/control-frame.js';
export {
  encodeControlMessage,
  decodeControlMessage,
  CONTROL_PROTOCOL_VERSION,
} from './control/control-message.js';
export type {
  ControlMessage,
  ControlMessageKind,
  AttachMessage,
  ControlRegionInfo,
} from './control/control-message.js';
export { ControlConnection } from './control/control-connection.js';
export type { ControlConnectionHandlers } from './control/control-connection.js';
