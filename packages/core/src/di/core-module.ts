import { ContainerModule } from 'inversify';
import { CertificateAuthority } from '../cert/certificate-authority.js';
import type { Rights } from '../cert/rights.js';
import type { ServiceConfig } from '../config/config-types.js';
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
 * The most each VM may be certified for, from services.yaml: it may offer the instances of the
 * services it provides and request every method and event of the services it consumes.
 */
export function rightsFromConfig(config: ServiceConfig, vmId: number): Rights | undefined {
  const vm = config.vms.find((v) => v.id === vmId);
  if (vm === undefined) return undefined;
  const offers = [];
  const requests = [];
  for (const s of config.services) {
    for (const instance of s.instances) {
      if (s.provider === vm.name)
        offers.push({ service: s.id, instanceLo: instance, instanceHi: instance });
      if (s.consumers.includes(vm.name)) {
        requests.push({
          service: s.id,
          instanceLo: instance,
          instanceHi: instance,
          methodLo: 0,
          methodHi: 0xffff,
        });
      }
    }
  }
  return { offers, requests };
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
          allowedRights: (vm) => rightsFromConfig(config, vm),
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
