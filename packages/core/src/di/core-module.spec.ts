import { expect } from 'chai';
import { Container } from 'inversify';
import { join } from 'node:path';
import { loadConfig } from '../config/load-config.js';
import { packageRoot } from '../util/package-root.js';
import { configRights } from '../config/config-rights.js';
import { coreModule } from './core-module.js';
import { CoreTokens } from './core-tokens.js';

const example = join(packageRoot(import.meta.url), '..', '..', 'examples', 'services.yaml');

describe('coreModule', () => {
  it('should resolve a CA and a broker from the bound inputs, as singletons', async () => {
    const config = await loadConfig(example);
    const c = new Container();
    c.bind(CoreTokens.ServiceConfig).toConstantValue(config);
    c.bind(CoreTokens.AuthorityKeys).toConstantValue({
      caSecretKey: new Uint8Array(32).fill(1),
      brokerSecretKey: new Uint8Array(32).fill(2),
    });
    c.bind(CoreTokens.Epoch).toConstantValue(5n);
    c.bind(CoreTokens.GrantKeys).toConstantValue(new Map([[1, new Uint8Array(32)]]));
    c.loadSync(coreModule({ crypto: 'noble', clock: { nowMs: () => 1000n } }));
    const ca = c.get(CoreTokens.CertificateAuthority);
    expect(ca.epoch).to.equal(5n);
    expect(c.get(CoreTokens.CertificateAuthority)).to.equal(ca);
    expect(c.get(CoreTokens.CryptoBackend).name).to.equal('noble');
    const broker = c.get(CoreTokens.BrokerHandshakes);
    expect(broker.pendingCount()).to.equal(0);
    expect(ca.verify(ca.brokerCertificate, 'broker').notBeforeMs).to.equal(1000n);
  });

  it('should certify each VM for what services.yaml allows it (configRights)', async () => {
    const config = await loadConfig(example);
    const info = config.vms.find((v) => v.name === 'infotainment')!;
    const cluster = config.vms.find((v) => v.name === 'cluster')!;
    const speed = config.services.find((s) => s.name === 'VehicleSpeed')!;
    expect(configRights(config, info.id)!.offers).to.deep.include({
      service: speed.id,
      instanceLo: speed.instances[0],
      instanceHi: speed.instances[0],
    });
    expect(configRights(config, cluster.id)!.requests.map((r) => r.service)).to.include(speed.id);
    expect(configRights(config, cluster.id)!.offers).to.deep.equal([]);
    expect(configRights(config, 999)).to.equal(undefined);
  });
});
