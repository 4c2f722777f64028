import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IPV6_NAMESPACE_SETUP,
  LOOPBACK_NAMESPACE_SETUP,
  fieldValues,
  netNamespaceMissing,
  tsharkDecodeFile,
  tsharkMissing,
} from '@sivshm/testing';
import { runInNamespace } from './support/run-in-namespace.js';

interface Use {
  events: number[];
  ok: number;
  error: string;
}

interface Report {
  pcap: string;
  log: string[];
  gatewayLog: string[];
  one: Use;
  segmented: { segments: number; kph: number[] };
  two: Use;
  three: Use;
  requests: Array<{ clientId: number; sessionId: number; interfaceVersion: number }>;
  statusAfterStopOffer: string;
  stopOfferMs: number;
  ttlMs: number;
  againOk: number;
  statusesAfterReboot: string[];
  counters: Record<string, number>;
}

const VERSIONS = [
  {
    title:
      'sivshm gateway: import over SOME/IP (private network namespace, hostd + a consuming VM)',
    setup: LOOPBACK_NAMESPACE_SETUP,
    version: 'ipv4',
    ecu: '127.0.0.2',
  },
  {
    title: 'sivshm gateway: import over SOME/IP on IPv6 (fd00::1 and fd00::2 on a veth end)',
    setup: IPV6_NAMESPACE_SETUP,
    version: 'ipv6',
    ecu: 'fd00::2',
  },
] as const;

for (const { title, setup, version, ecu } of VERSIONS)
  describe(title, function () {
    this.timeout(150_000);
    let dir: string;
    let report: Report;

    before(function () {
      const missing = tsharkMissing() ?? netNamespaceMissing(setup);
      if (missing !== undefined) {
        console.log(`      pending: ${missing}`);
        this.skip();
      }
      dir = mkdtempSync(join(tmpdir(), 'sivshm-gateway-import-'));
      const r = runInNamespace(import.meta.url, 'support/import-scenario', setup, [dir, version]);
      expect(r.status, `scenario failed: ${r.stderr}`).to.equal(0);
      report = JSON.parse(r.stdout) as Report;
    });

    after(() => {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it("should deliver the network provider's UDP events to a sivshm consumer as the service's event stream", () => {
      expect(report.one.events).to.deep.equal([41, 42, 43, 44, 45]);
    });

    it('should deliver events over the TCP connection the gateway made for an import with a TCP port', () => {
      expect(report.two.events).to.deep.equal([41, 42, 43, 44, 45]);
    });

    it('should join the multicast group the provider names in its Ack and deliver the events sent there', () => {
      expect(report.three.events).to.deep.equal([41, 42, 43, 44, 45]);
      expect(report.three.ok).to.equal(1005);
    });

    it("should carry a VM's method call to the network provider and its answer back, over UDP and over TCP", () => {
      expect(report.one.ok).to.equal(1005);
      expect(report.two.ok).to.equal(1005);
      // SOME/IP request ids: the gateway's client id (its VM id, 2) and session ids from 1.
      expect(report.requests.length).to.be.at.least(4);
      for (const r of report.requests) expect(r).to.include({ clientId: 2, interfaceVersion: 1 });
      expect(report.requests[0]!.sessionId).to.equal(1);
    });

    it("should fail the VM's call with a typed error naming the network provider's return code", () => {
      for (const use of [report.one, report.two]) {
        expect(use.error).to.match(/^ERR_REMOTE: /);
        expect(use.error).to.contain('return code 0x04 (E_NOT_READY)');
      }
    });

    it('should reassemble a notification the provider sends as SOME/IP-TP segments and deliver it whole', () => {
      expect(report.segmented.segments, 'segments of the 2 912-byte notification').to.equal(3);
      expect(report.segmented.kph).to.deep.equal([77]);
    });

    it('should let no undecodable event and no junk datagram reach the VM', () => {
      expect(report.counters['undecodable']).to.equal(3);
      expect(report.counters['malformed']).to.be.at.least(1);
      // Each instance's five events, and the probes sent until the VM's channel was up.
      expect(report.counters['eventsReceived']).to.be.at.least(15);
    });

    it("should end the sivshm offer on the network provider's StopOffer, and offer again when it comes back", () => {
      expect(report.stopOfferMs).to.be.below(5_000);
      expect(report.statusAfterStopOffer).to.not.equal('connected');
      expect(report.againOk).to.equal(1009);
    });

    it("should end the sivshm offer when the network provider's Offer TTL runs out", () => {
      // TTL 2 s, counted from the last cyclic Offer (every 0.5 s).
      expect(report.ttlMs).to.be.within(1_000, 6_000);
    });

    it('should end the sivshm offer when the network provider reboots (SD session back to 1)', () => {
      expect(
        report.gatewayLog.some((l) => l.includes(`offer withdrawn (peerRebooted from ${ecu})`)),
      ).to.equal(true);
      expect(
        report.statusesAfterReboot.some((st) => st !== 'connected'),
        'the consumer saw its channel end',
      ).to.equal(true);
    });

    it('should put only packets on the wire that tshark decodes as SOME/IP(-SD) with no expert warning', () => {
      const decoded = tsharkDecodeFile(report.pcap, {
        someipUdpPorts: [30490, 30701, 30703, 30705, 30801, 30802, 30804, 30900],
        someipTcpPorts: [30803],
        checksums: false,
      });
      expect(decoded.expert, `tshark expert errors or warnings:\n${decoded.expert}`).to.not.match(
        /^(Errors|Warns|Warnings) \(/m,
      );
      const items = decoded.expert.split('\n').filter((l) => /^\s+\d+\s+\S+\s+\S+\s+/.test(l));
      for (const item of items)
        expect(item, 'an expert item that is not TCP bookkeeping').to.match(
          /^\s+\d+\s+Sequence\s+TCP\s+/,
        );
      for (const p of decoded.packets) expect(Object.keys(p)).to.not.include('_ws.malformed');
      const types = decoded.packets.flatMap((p) => fieldValues(p['someip'], 'someip.messagetype'));
      for (const t of ['0x00', '0x80', '0x81', '0x02'])
        expect(types, `message type ${t}`).to.include(t);
      // The TP segments (notification with the TP flag), each dissected without complaint.
      expect(types.filter((t) => t === '0x22').length, 'SOME/IP-TP segments').to.be.at.least(3);
    });
  });
