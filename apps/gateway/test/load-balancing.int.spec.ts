import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LOOPBACK_NAMESPACE_SETUP,
  netNamespaceMissing,
  tsharkDecodeFile,
  tsharkMissing,
} from '@sivshm/testing';
import { runInNamespace } from './support/run-in-namespace.js';

/** The loopback namespace plus a third address, for the second ECU. */
const SETUP = `${LOOPBACK_NAMESPACE_SETUP} && ip addr add 127.0.0.3/8 dev lo`;

interface Phase {
  subscribedAtA: boolean;
  subscribedAtB: boolean;
  events: number[];
}

describe('sivshm gateway: import from one of several providers by load balancing priority (private network namespace)', function () {
  this.timeout(150_000);
  let dir: string;
  let report: {
    pcap: string;
    log: string[];
    phases: { aAlone: Phase; bAdded: Phase; bGone: Phase };
    strayFromA: number;
    counters: Record<string, number>;
  };

  before(function () {
    const missing = tsharkMissing() ?? netNamespaceMissing(SETUP);
    if (missing !== undefined) {
      console.log(`      pending: ${missing}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'sivshm-gateway-lb-'));
    const r = runInNamespace(import.meta.url, 'support/load-balancing-scenario', SETUP, [dir]);
    expect(r.status, `scenario failed: ${r.stderr}`).to.equal(0);
    report = JSON.parse(r.stdout) as typeof report;
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('should subscribe at the only provider and deliver its events', () => {
    const p = report.phases.aAlone;
    expect(p).to.include({ subscribedAtA: true, subscribedAtB: false });
    expect(p.events).to.deep.equal([101, 102, 103]);
  });

  it('should move to a provider offering a better (lower) priority, and hear only it', () => {
    const p = report.phases.bAdded;
    expect(p, report.log.join('\n')).to.include({ subscribedAtA: false, subscribedAtB: true });
    // The sivshm offer is made anew for the new provider; once a probe came through, every
    // event arrives, in order, and all of them are B's.
    expect(p.events).to.deep.equal([201, 202, 203]);
    expect(report.strayFromA, 'events of the provider no longer bound, in the VM').to.equal(0);
  });

  it('should fall back to the remaining provider when the bound one stops offering', () => {
    const p = report.phases.bGone;
    expect(p, report.log.join('\n')).to.include({ subscribedAtA: true, subscribedAtB: false });
    expect(p.events).to.deep.equal([301, 302, 303]);
  });

  it('should put only packets on the wire that tshark decodes as SOME/IP(-SD) with no expert warning', () => {
    const decoded = tsharkDecodeFile(report.pcap, {
      someipUdpPorts: [30490, 30701, 30801],
      checksums: false,
    });
    expect(decoded.expert, `tshark expert items:\n${decoded.expert}`).to.not.match(
      /^(Errors|Warns|Warnings|Notes|Chats) \(/m,
    );
    expect(decoded.packets.length).to.be.greaterThan(10);
    for (const p of decoded.packets) expect(Object.keys(p)).to.not.include('_ws.malformed');
  });
});
