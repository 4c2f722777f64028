import type { ServiceIdentifier } from 'inversify';
import type { CertificateAuthority } from '../cert/certificate-authority.js';
import type { AuthorityKeys } from '../cert/certificate-authority.js';
import type { ServiceConfig } from '../config/config-types.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import type { BrokerLimits } from '../handshake/broker-budgets.js';
import type { BrokerHandshakes } from '../handshake/broker-handshake.js';
import type { Clock } from '../util/clock.js';

/**
 * Typed inversify service identifiers of `@sivshm/core`. A composition root (hostd, an app)
 * binds the inputs (`ServiceConfig`, `AuthorityKeys`, `Epoch`, `GrantKeys`) and loads
 * `coreModule()` for the rest. `Symbol.for` keeps them equal across two copies of the package.
 */
export const CoreTokens = {
  CryptoBackend: Symbol.for('sivshm.core.CryptoBackend') as ServiceIdentifier<CryptoBackend>,
  Clock: Symbol.for('sivshm.core.Clock') as ServiceIdentifier<Clock>,
  ServiceConfig: Symbol.for('sivshm.core.ServiceConfig') as ServiceIdentifier<ServiceConfig>,
  AuthorityKeys: Symbol.for('sivshm.core.AuthorityKeys') as ServiceIdentifier<AuthorityKeys>,
  Epoch: Symbol.for('sivshm.core.Epoch') as ServiceIdentifier<bigint>,
  /** The grant key K_vm of every VM, for the grants the broker mints. */
  GrantKeys: Symbol.for('sivshm.core.GrantKeys') as ServiceIdentifier<
    ReadonlyMap<number, Uint8Array>
  >,
  BrokerLimits: Symbol.for('sivshm.core.BrokerLimits') as ServiceIdentifier<Partial<BrokerLimits>>,
  /**
   * Optional: the broker's secret key when the CA is bound by the composition root (opened from
   * a CA directory) rather than built from `AuthorityKeys`.
   */
  BrokerSecretKey: Symbol.for('sivshm.core.BrokerSecretKey') as ServiceIdentifier<Uint8Array>,
  CertificateAuthority: Symbol.for(
    'sivshm.core.CertificateAuthority',
  ) as ServiceIdentifier<CertificateAuthority>,
  BrokerHandshakes: Symbol.for(
    'sivshm.core.BrokerHandshakes',
  ) as ServiceIdentifier<BrokerHandshakes>,
} as const;
