import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  IPV6_NAMESPACE_SETUP,
  LOOPBACK_NAMESPACE_SETUP,
  fieldValues,
  netNamespaceMissing,
  tsharkDecodeFile,
  tsharkMissing,
} from '@sivshm/testing';

const ENTRY_NAMES: Record<string, string> = {
  '0x00': 'find',
  '0x01': 'offer',
  '0x06': 'subscribe',
  '0x07': 'ack',
};

interface Report {
  pcap: string;
  errors: string[];
  availability: string[];
  subscription: string[];
  subscribers: string[];
  provider: { peer: string; endpoints: unknown[]; serviceId: number; instanceId: number };
}

describe('SdAgent over UDP (two agents in a private network namespace)', function () {
  this.timeout(90_000);

  let dir: string;
  before(function () {
    const missing = tsharkMissing() ?? netNamespaceMissing();
    if (missing !== undefined) {
      console.log(`      pending: ${missing}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'sivshm-sd-udp-'));
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs udp-scenario.ts in a namespace made by `setup`; its JSON report. */
  function runScenario(setup: string, version: 'ipv4' | 'ipv6'): Report {
    const self = fileURLToPath(import.meta.url);
    const child = join(
      self,
      '..',
      'support',
      `udp-scenario${self.endsWith('.ts') ? '.ts' : '.js'}`,
    );
    const r = spawnSync(
      'unshare',
      [
        '-n',
        'sh',
        '-c',
        `${setup} && exec "$0" "$1" "$2" "$3"`,
        process.execPath,
        child,
        dir,
        version,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, `scenario failed: ${r.stderr}`).to.equal(0);
    return JSON.parse(r.stdout) as Report;
  }

  /** The agents' view and every captured packet, checked alike for IPv4 and IPv6. */
  function checkExchange(report: Report, a: string, sources: RegExp, ipLayer: 'ip' | 'ipv6'): void {
    expect(report.errors).to.deep.equal([]);
    expect(report.availability).to.deep.equal(['up', 'stopOffer']);
    expect(report.subscription).to.deep.equal(['subscribed']);
    expect(report.subscribers).to.deep.equal(['subscribed', 'unsubscribed:stopSubscribe']);
    expect(report.provider).to.include({ peer: a, serviceId: 0x1234, instanceId: 0x5678 });
    // Live capture: checksums are offloaded, so tshark's checksum check is off here
    // (our pcap writer's checksums are checked in tshark.int.spec.ts).
    const decoded = tsharkDecodeFile(report.pcap, { checksums: false });
    expect(decoded.expert, 'tshark expert items').to.equal('');
    const sequence: string[] = [];
    for (const p of decoded.packets) {
      expect(Object.keys(p)).to.not.include('_ws.malformed');
      const types = fieldValues(p['someipsd'], 'someipsd.entry.type');
      const ttls = fieldValues(p['someipsd'], 'someipsd.entry.ttl');
      types.forEach((t, i) => {
        const base = ENTRY_NAMES[t] ?? t;
        const stop = ttls[i] === '0';
        sequence.push(stop ? (base === 'ack' ? 'nack' : `stop${base}`) : base);
      });
      expect(fieldValues(p[ipLayer], `${ipLayer}.src`)[0]).to.match(sources);
      expect(fieldValues(p['udp'], 'udp.srcport')).to.deep.equal(['30490']);
      expect(fieldValues(p['udp'], 'udp.dstport')).to.deep.equal(['30490']);
    }
    const order = ['find', 'offer', 'subscribe', 'ack', 'stopsubscribe', 'stopoffer'];
    let at = -1;
    for (const step of order) {
      const next = sequence.indexOf(step, at + 1);
      expect(next, `${step} after position ${at} in ${sequence.join(',')}`).to.be.greaterThan(at);
      at = next;
    }
    expect(sequence).to.not.include('nack');
  }

  describe('offer → find → subscribe → ack → stop', () => {
    it('should run the whole exchange between 127.0.0.1 and 127.0.0.2 with every packet tshark-clean', () => {
      const report = runScenario(LOOPBACK_NAMESPACE_SETUP, 'ipv4');
      checkExchange(report, '127.0.0.1', /^127\.0\.0\.[12]$/, 'ip');
    });

    it('should run it over IPv6 (fd00::1 and fd00::2, group ff14::4:0 on a veth end) with every packet tshark-clean', function () {
      const missing = netNamespaceMissing(IPV6_NAMESPACE_SETUP);
      if (missing !== undefined) {
        console.log(`      pending: ${missing}`);
        this.skip();
      }
      const report = runScenario(IPV6_NAMESPACE_SETUP, 'ipv6');
      checkExchange(report, 'fd00::1', /^fd00::[12]$/, 'ipv6');
      const endpoint = report.provider.endpoints[0] as { type: string; address: string };
      expect(endpoint).to.include({ type: 'ipv6Endpoint', address: 'fd00::1' });
    });
  });
});
