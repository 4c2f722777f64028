import { ContainerModule } from 'inversify';
import { CertificateAuthority } from '../cert/certificate-authority.js';
import { configRights } from '../config/config-rights.js';
import { vmBudgets } from '../config/vm-load.js';
import type { CryptoBackendName } from '../crypto/crypto-backend.js';
import { cryptoBackend } from '../crypto/select-backend.js';
import type { BrokerLimits } from '../handshake/broker-budgets.js';
import { BrokerHandshakes, isPendingTimeoutMs } from '../handshake/broker-handshake.js';
import type { ServiceConfig } from '../config/config-types.js';
import { CoreError } from '../errors/core-error.js';
import { systemClock, type Clock } from '../util/clock.js';
import { CoreTokens } from './core-tokens.js';

export interface CoreModuleOptions {
  /** Crypto backend; default from `SIVSHM_CRYPTO`, else `node`. */
  readonly crypto?: CryptoBackendName;
  /** Clock; default the wall clock. */
  readonly clock?: Clock;
  /** The broker's PENDING deadline, ms; default 1000 (docs/security.md). */
  readonly pendingTimeoutMs?: number;
  /** Time a connected VM has to acknowledge a REVOKE before quarantine, ms; default 2000. */
  readonly revokeAckTimeoutMs?: number;
  /** Bind certificates to control links (hostd); default false. */
  readonly linkBoundCertificates?: boolean;
}

/**
 * Binds the core services: the crypto backend and clock (from `options`), and, from the inputs
 * the composition root binds (`ServiceConfig`, `AuthorityKeys`, `Epoch`, `GrantKeys`,
 * optionally `BrokerLimits` and `BrokerSecretKey`), a singleton `CertificateAuthority` and
 * `BrokerHandshakes`. The broker holds each VM to its own `vms[].limits` from services.yaml.
 *
 * @example
 * ```ts
 * import { Container } from 'inversify';
 * declare const config: ServiceConfig, keys: AuthorityKeys, epoch: bigint;
 * declare const grantKeys: ReadonlyMap<number, Uint8Array>; // vm id → K_vm
 * const c = new Container();
 * c.bind(CoreTokens.ServiceConfig).toConstantValue(config);
 * c.bind(CoreTokens.AuthorityKeys).toConstantValue(keys);
 * c.bind(CoreTokens.Epoch).toConstantValue(epoch);
 * c.bind(CoreTokens.GrantKeys).toConstantValue(grantKeys);
 * c.loadSync(coreModule({ crypto: 'node' }));
 * const broker = c.get(CoreTokens.BrokerHandshakes);
 * ```
 */
export function coreModule(options: CoreModuleOptions = {}): ContainerModule {
  if (options.pendingTimeoutMs !== undefined) pendingDeadline(options.pendingTimeoutMs);
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
        const config = ctx.get(CoreTokens.ServiceConfig);
        const limits = ctx.get(CoreTokens.BrokerLimits, { optional: true });
        const brokerSecretKey =
          ctx.get(CoreTokens.BrokerSecretKey, { optional: true }) ??
          ctx.get(CoreTokens.AuthorityKeys).brokerSecretKey;
        return new BrokerHandshakes({
          crypto: ctx.get(CoreTokens.CryptoBackend),
          ca: ctx.get(CoreTokens.CertificateAuthority),
          brokerSecretKey,
          grantKeys: ctx.get(CoreTokens.GrantKeys),
          nowMs: () => clock.nowMs(),
          ...(options.revokeAckTimeoutMs === undefined
            ? {}
            : { revokeAckTimeoutMs: BigInt(options.revokeAckTimeoutMs) }),
          ...(options.linkBoundCertificates === undefined
            ? {}
            : { linkBoundCertificates: options.linkBoundCertificates }),
          ...(limits === undefined ? {} : { limits }),
          limitsOf: (vmId) => configLimits(config, vmId),
          ...(options.pendingTimeoutMs === undefined
            ? {}
            : { pendingTimeoutMs: pendingDeadline(options.pendingTimeoutMs) }),
        });
      })
      .inSingletonScope();
  });
}

/**
 * A VM's broker limits: services.yaml's, raised to what the VM's own consumer channels need
 * (`vmBudgets`); undefined for a VM it does not list.
 */
export function configLimits(config: ServiceConfig, vmId: number): BrokerLimits | undefined {
  const vm = config.vms.find((v) => v.id === vmId);
  if (vm === undefined) return undefined;
  const b = vmBudgets(config, vmId);
  return {
    requestsPerSecond: b.handshakesPerSecond,
    burst: b.handshakeBurst,
    pendingPerVm: b.pendingHandshakes,
    windowBytesPerVm: BigInt(vm.limits.windowBytes),
  };
}

function pendingDeadline(ms: number): bigint {
  if (!isPendingTimeoutMs(ms)) {
    throw new CoreError(
      'ERR_CONFIG',
      `pendingTimeoutMs ${ms} is not allowed: use a whole number of milliseconds from 1 to 60000`,
    );
  }
  return BigInt(ms);
}
