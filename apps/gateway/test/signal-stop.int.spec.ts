import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netNamespaceMissing, tsharkDecodeFile, tsharkMissing } from '@sivshm/testing';
import { runInNamespace } from './support/run-in-namespace.js';

/**
 * Two non-loopback IPv4 addresses on one end of a veth pair, SD multicast routed there: the
 * shipped binary, unlike the test-started gateways, does not offer loopback endpoints.
 */
const SETUP =
  'ip link set lo up && ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up && ip addr add 10.66.0.1/24 dev v0 && ip addr add 10.66.0.2/24 dev v0 && ip route add 224.0.0.0/4 dev v0';

interface SignalRun {
  signal: string;
  exitCode: number | null;
  exitSignal: string | null;
  offeredBefore: number[];
  stopOffers: number[];
  stopOfferSources: string[];
  exitMs: number;
  stderr: string;
}

describe('sivshm-gateway on SIGTERM and SIGINT (real binary, private network namespace)', function () {
  this.timeout(150_000);
  let dir: string;
  let report: { pcap: string; runs: SignalRun[] };

  before(function () {
    const missing = tsharkMissing() ?? netNamespaceMissing(SETUP);
    if (missing !== undefined) {
      console.log(`      pending: ${missing}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'sivshm-gateway-signal-'));
    const r = runInNamespace(import.meta.url, 'support/signal-stop-scenario', SETUP, [dir]);
    expect(r.status, `scenario failed: ${r.stderr}`).to.equal(0);
    report = JSON.parse(r.stdout) as typeof report;
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  for (const signal of ['SIGTERM', 'SIGINT'])
    it(`should send StopOffer for every exported instance on ${signal}, then exit 0`, () => {
      const run = report.runs.find((r) => r.signal === signal)!;
      expect(run.offeredBefore, 'both exports offered before the signal').to.deep.equal([1, 2]);
      expect(
        [...run.stopOffers].sort(),
        `StopOffers seen (gateway stderr: ${run.stderr})`,
      ).to.deep.equal([1, 2]);
      expect(run.stopOfferSources).to.deep.equal(['10.66.0.1:30490']);
      expect(run.exitCode, run.stderr).to.equal(0);
      expect(run.exitSignal).to.equal(null);
    });

  it('should put only SD packets on the wire that tshark decodes with no expert warning', () => {
    const decoded = tsharkDecodeFile(report.pcap, { someipUdpPorts: [30490], checksums: false });
    expect(decoded.expert, `tshark expert items:\n${decoded.expert}`).to.not.match(
      /^(Errors|Warns|Warnings|Notes|Chats) \(/m,
    );
    const sd = decoded.packets.filter((p) => p['someipsd'] !== undefined);
    expect(sd.length, 'SD packets captured').to.be.at.least(6);
    for (const p of decoded.packets) expect(Object.keys(p)).to.not.include('_ws.malformed');
  });
});
