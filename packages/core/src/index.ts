// The public surface of @sivshm/core, listed by hand: what hostd, the runtime, the CLI and the
// other packages import, plus the documented config API (README "API"). Byte layouts live in
// @sivshm/abi; helpers only tests of other packages need are in `@sivshm/core/testing`.

// Errors.
export { SivshmError } from './errors/sivshm-error.js';
export { CoreError } from './errors/core-error.js';
export type { CoreErrorCode } from './errors/core-error.js';

// services.yaml: load, validate, look up (README "services.yaml reference").
export { loadConfig } from './config/load-config.js';
export { parseConfig } from './config/parse-config.js';
export type { ParseConfigOptions } from './config/parse-config.js';
export type { ProtoFileReader } from './config/proto-loader.js';
export { formatConfigIssue, isConfigError } from './config/config-issue.js';
export type { ConfigIssue, ConfigError } from './config/config-issue.js';
export { configLocationOf } from './config/config-location.js';
export type { ConfigLocation } from './config/config-location.js';
export { resolveGrantKey } from './config/grant-key.js';
export type { ResolveGrantKeyOptions } from './config/grant-key.js';
export { mayOffer, mayConsume, serviceById, vmById, vmByName } from './config/config-policy.js';
export { configRights } from './config/config-rights.js';
export { vmLoad, vmBudgets } from './config/vm-load.js';
export type { VmLoad, VmBudgets } from './config/vm-load.js';
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
  ElasticWindow,
} from './config/config-types.js';
export { DEFAULT_SERVICE_RING_DATA_SIZE, ELASTIC_DEFAULTS } from './config/elastic-section.js';
export type { GatewayConfig, GatewayExport, GatewayImport } from './config/gateway-types.js';

// Crypto: the backend picked at start-up, and the self-tests run before anything is signed.
export { cryptoBackend } from './crypto/select-backend.js';
export type { CryptoBackend, CryptoBackendName } from './crypto/crypto-backend.js';
export { cryptoSelfTest } from './crypto/crypto-self-test.js';
export { equalConstantTime } from './crypto/constant-time.js';
export { handshakeSelfTest } from './handshake/handshake-self-test.js';

// Certificates, enrolment and the CA (docs/protocol.md).
export { decodeCertificateBody, certificateHash } from './cert/certificate.js';
export type {
  Certificate,
  CertificateBody,
  CertificateKind,
  CertificateCheck,
} from './cert/certificate.js';
export { certificateToPem, certificateFromFile } from './cert/certificate-pem.js';
export { createCsr } from './cert/csr.js';
export type { CsrBody } from './cert/csr.js';
export { CertificateAuthority } from './cert/certificate-authority.js';
export type { AuthorityKeys, CertificateAuthorityOptions } from './cert/certificate-authority.js';
export { initCaDirectory, openCaDirectory } from './cert/ca-store.js';
export type { CaState, OpenedCa } from './cert/ca-store.js';
export { CaLock, CaLockedError } from './cert/ca-lock.js';
export type { CaLockHolder, KernelFileLocks } from './cert/ca-lock.js';
export { mayOfferRight, mayRequestRight } from './cert/rights.js';
export type { Rights, OfferRight, RequestRight } from './cert/rights.js';

// Grant and revoke tokens (docs/protocol.md).
export { decodeGrant, NO_DOORBELL_ROUTE } from './grant/grant-token.js';
export type {
  GrantToken,
  GrantDecodeResult,
  GrantDecodeFailure,
  GrantDoorbellRoute,
} from './grant/grant-token.js';
export { verifyGrant } from './grant/grant-verify.js';
export type { GrantCheckContext, GrantVerdict, GrantRejectReason } from './grant/grant-verify.js';
export { signRevoke, verifyRevoke } from './grant/revoke-token.js';
export { computeRevokeReceipt, verifyRevokeReceipt } from './grant/revoke-receipt.js';
export type { RevokeToken, RevokeVerdict } from './grant/revoke-token.js';
export { SerialWindow } from './grant/serial-window.js';

// The handshake: consumer, provider and broker state machines (docs/protocol.md).
export { ConsumerHandshake } from './handshake/consumer-handshake.js';
export type { ChannelRequest, ConsumerHandshakeOptions } from './handshake/consumer-handshake.js';
export { ProviderHandshakes } from './handshake/provider-handshake.js';
export type { ProviderPolicy, ProviderHandshakesOptions } from './handshake/provider-handshake.js';
export { BrokerHandshakes, isPendingTimeoutMs } from './handshake/broker-handshake.js';
export type { BrokerOptions } from './handshake/broker-handshake.js';
export type { Successor } from './handshake/broker-resize.js';
export type { BrokerLimits } from './handshake/broker-budgets.js';
export type {
  BrokerEffect,
  BrokerChannel,
  BrokerStats,
  ChannelCloseReason,
  OfferedService,
  Window,
} from './handshake/broker-types.js';
export type {
  TrustAnchors,
  EndpointIdentity,
  ChannelGrant,
  EndpointEffect,
} from './handshake/handshake-types.js';
export { MODE_RANK } from './handshake/handshake-types.js';
export type { AbortReasonName } from './handshake/abort-reason.js';
export { MessageType } from './handshake/handshake-messages.js';
export type { HandshakeMessage } from './handshake/handshake-messages.js';
export { peekControl } from './handshake/peek-control.js';
export {
  HANDSHAKE_TRACE_ENV,
  flushHandshakeTrace,
  handshakeTraceOn,
  startHandshakeTrace,
  traceStage,
} from './handshake/handshake-trace.js';

// The control link between hostd and a VM (docs/architecture.md).
export { ControlConnection } from './control/control-connection.js';
export type {
  ControlConnectionHandlers,
  ControlConnectionOptions,
} from './control/control-connection.js';
export type {
  ControlMessage,
  ControlMessageKind,
  AttachMessage,
  ControlRegionInfo,
} from './control/control-message.js';

// Utilities the other packages build on.
export { TokenBucket } from './util/token-bucket.js';
export { packageRoot } from './util/package-root.js';
export { onReaderGone } from './util/closed-reader.js';
export type { ProtoObject } from './wire/proto-codec.js';

// Dependency injection (inversify), for apps that wire core's parts through a container.
export { CoreTokens } from './di/core-tokens.js';
export { coreModule, configLimits } from './di/core-module.js';
export type { CoreModuleOptions } from './di/core-module.js';
