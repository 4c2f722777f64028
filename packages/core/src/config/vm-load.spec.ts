import { expect } from 'chai';
import { parseConfig } from './parse-config.js';
import { vmBudgets, vmLoad } from './vm-load.js';

const instances = (n: number): string =>
  `[${Array.from({ length: n }, (_, i) => i + 1).join(', ')}]`;

const text = (limits = ''): string => `
version: 1
region: { size: 1MiB }
vms:
  - { id: 1, name: provider, grantKey: { env: K1 } }
  - { id: 2, name: consumer, grantKey: { env: K2 }${limits} }
  - { id: 3, name: bystander, grantKey: { env: K3 } }
services:
  - { name: Many, id: 0x1234, instances: ${instances(256)}, major: 1, provider: provider, consumers: [consumer] }
`;

describe('vmLoad / vmBudgets', () => {
  const config = parseConfig(text(), { file: 'l.yaml', baseDir: '/nowhere' });

  it('should count a provider’s offers and answers and a consumer’s subscriptions and channels', () => {
    // No eventgroups: counted as one. Provider per instance: Offer + StopOffer + Ack + Nack.
    expect(vmLoad(config, 1)).to.deep.equal({
      sdEntriesPerMessage: 256 * 4,
      sdEntriesPerCycle: 256 * 2,
      consumerChannels: 0,
      providerChannels: 256,
    });
    expect(vmLoad(config, 2)).to.deep.equal({
      sdEntriesPerMessage: 256 * 3,
      sdEntriesPerCycle: 256,
      consumerChannels: 256,
      providerChannels: 0,
    });
    expect(vmLoad(config, 3).sdEntriesPerMessage).to.equal(1);
  });

  it('should grant twice the need, never less than the limits, and leave a VM without services at the floors', () => {
    const p = vmBudgets(config, 1);
    expect(p.sdEntriesPerSecond).to.equal(2 * 1024);
    expect(p.sdBurst).to.equal(2 * 4 * 1024);
    const c = vmBudgets(config, 2);
    expect([c.handshakeBurst, c.handshakesPerSecond, c.pendingHandshakes]).to.deep.equal([
      512, 256, 256,
    ]);
    const idle = vmBudgets(config, 3);
    expect([idle.sdEntriesPerSecond, idle.sdBurst]).to.deep.equal([200, 50]);
    expect([idle.handshakesPerSecond, idle.handshakeBurst, idle.pendingHandshakes]).to.deep.equal([
      20, 5, 8,
    ]);
  });

  it('should take services.yaml’s limits.sdEntriesPerSecond / sdBurst as floors', () => {
    const raised = parseConfig(
      text(', limits: { sdEntriesPerSecond: 5000, sdBurst: 40000, burst: 1000 }'),
      { file: 'l.yaml', baseDir: '/nowhere' },
    );
    expect(raised.vms[1]!.limits).to.include({ sdEntriesPerSecond: 5000, sdBurst: 40000 });
    const b = vmBudgets(raised, 2);
    expect([b.sdEntriesPerSecond, b.sdBurst, b.handshakeBurst]).to.deep.equal([5000, 40000, 1000]);
  });

  it('should refuse an SD limit of zero, naming the key', () => {
    expect(() =>
      parseConfig(text(', limits: { sdEntriesPerSecond: 0 }'), {
        file: 'l.yaml',
        baseDir: '/nowhere',
      }),
    ).to.throw(/vms\[1\]\.limits\.sdEntriesPerSecond/);
  });
});
