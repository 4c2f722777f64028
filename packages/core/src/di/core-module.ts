import { ContainerModule } from 'inversify';
import { CertificateAuthority } from '../cert/certificate-authority.js';
import { configRights } from '../config/config-rights.js';
import type { CryptoBackendName } from '../crypto/crypto-backend.js';
import { cryptoBackend } from '../crypto/select-backend.js';
import { BrokerHandshakes } from '../handshake/broker-handshake.js';
import { systemClock, type Clock } from '../util/clock.js';
import { CoreTokens } from './core-tokens.js';

export interface CoreModuleOptions {
  /** Crypto backend; default from `SIVSHM_CRYPTO`, else `node`. */
  readonly crypto?: CryptoBackendName;
  /** Clock; default the wall clock. */
  readonly clock?: Clock;
}

/**
 * Binds the core services: the crypto backend and clock (from `options`), and, from the inputs
 * the composition root binds (`ServiceConfig`, `AuthorityKeys`, `Epoch`, `BrokerEnvironment`,
 * optionally `BrokerLimits`), a singleton `CertificateAuthority` and `BrokerHandshakes`.
 *
 * @example
 * ```ts
 * const c = new Container();
 * c.bind(CoreTokens.ServiceConfig).toConstantValue(config);
 * c.bind(CoreTokens.AuthorityKeys).toConstantValue(keys);
 * c.bind(CoreTokens.Epoch).toConstantValue(epoch);
 * c.bind(CoreTokens.BrokerEnvironment).toConstantValue(env);
 * c.loadSync(coreModule({ crypto: 'node' }));
 * const broker = c.get(CoreTokens.BrokerHandshakes);
 * ```
 */
export function coreModule(options: CoreModuleOptions = {}): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(CoreTokens.CryptoBackend).toConstantValue(cryptoBackend(options.crypto));
    bind(CoreTokens.Clock).toConstantValue(options.clock ?? systemClock);
    bind(CoreTokens.CertificateAuthority)
      .toDynamicValue((ctx) => {
        const config = ctx.get(CoreTokens.ServiceConfig);
        const clock = ctx.get(CoreTokens.Clock);
        return new CertificateAuthority({
          crypto: ctx.get(CoreTokens.CryptoBackend),
          keys: ctx.get(CoreTokens.AuthorityKeys),
          epoch: ctx.get(CoreTokens.Epoch),
          nowMs: () => clock.nowMs(),
          allowedRights: (vm) => configRights(config, vm),
        });
      })
      .inSingletonScope();
    bind(CoreTokens.BrokerHandshakes)
      .toDynamicValue((ctx) => {
        const clock = ctx.get(CoreTokens.Clock);
        const limits = ctx.get(CoreTokens.BrokerLimits, { optional: true });
        return new BrokerHandshakes({
          crypto: ctx.get(CoreTokens.CryptoBackend),
          ca: ctx.get(CoreTokens.CertificateAuthority),
          brokerSecretKey: ctx.get(CoreTokens.AuthorityKeys).brokerSecretKey,
          env: ctx.get(CoreTokens.BrokerEnvironment),
          nowMs: () => clock.nowMs(),
          ...(limits === undefined ? {} : { limits }),
        });
      })
      .inSingletonScope();
  });
}
