import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IPV6_NAMESPACE_SETUP as SETUP,
  netNamespaceMissing,
  tsharkDecodeFile,
  tsharkMissing,
} from '@sivshm/testing';
import { runInNamespace } from './support/run-in-namespace.js';

interface Message {
  serviceId: number;
  methodId: number;
  clientId: number;
  sessionId: number;
  messageType: number;
  returnCode: number;
}

interface Report {
  pcap: string;
  offer: { endpoints: Array<{ address: string; protocol: number; port: number }> };
  multicastAck: { multicast: Array<{ address: string; port: number }> };
  events: Array<Message & { from: string }>;
  multicastEvents: number;
  udpResponse: Message;
  tcpResponse: Message;
}

describe('sivshm gateway: export over SOME/IP on IPv6 (fd00::1 and fd00::2 on a veth end, hostd + provider VM)', function () {
  this.timeout(150_000);
  let dir: string;
  let report: Report;

  before(function () {
    const missing = tsharkMissing() ?? netNamespaceMissing(SETUP);
    if (missing !== undefined) {
      console.log(`      pending: ${missing}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'sivshm-gateway-v6-'));
    const r = runInNamespace(import.meta.url, 'support/export-ipv6-scenario', SETUP, [dir]);
    expect(r.status, `scenario failed: ${r.stderr}`).to.equal(0);
    report = JSON.parse(r.stdout) as Report;
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('should offer the export with IPv6 endpoint options (0x06) for UDP and TCP', () => {
    expect(report.offer.endpoints).to.deep.equal([
      { address: 'fd00::1', protocol: 0x11, port: 30511 },
      { address: 'fd00::1', protocol: 0x06, port: 30512 },
    ]);
  });

  it('should send events over IPv6 UDP to the subscriber, and to the IPv6 multicast group its Ack names (0x16)', () => {
    expect(report.events).to.have.length(3);
    for (const e of report.events)
      expect(e).to.include({ serviceId: 0x1234, methodId: 0x8001, messageType: 0x02 });
    expect(report.events[0]!.from).to.equal('fd00::1:30511');
    expect(report.multicastAck.multicast).to.deep.equal([{ address: 'ff14::1:1', port: 30610 }]);
    expect(report.multicastEvents).to.be.at.least(3);
  });

  it('should answer method requests over IPv6 UDP and TCP', () => {
    expect(report.udpResponse).to.include({ messageType: 0x80, returnCode: 0, clientId: 0x42 });
    expect(report.tcpResponse).to.include({ messageType: 0x80, returnCode: 0, clientId: 0x43 });
  });

  it('should put only packets on the wire that tshark decodes with no error or warning', () => {
    const decoded = tsharkDecodeFile(report.pcap, {
      someipUdpPorts: [30490, 30511, 30513, 30610, 40100, 40101],
      someipTcpPorts: [30512],
      checksums: false,
    });
    expect(decoded.expert, `tshark expert items:\n${decoded.expert}`).to.not.match(
      /^(Errors|Warns|Warnings) \(/m,
    );
    for (const p of decoded.packets) expect(Object.keys(p)).to.not.include('_ws.malformed');
    expect(decoded.packets.filter((p) => p['someipsd'] !== undefined).length).to.be.greaterThan(4);
    expect(decoded.packets.filter((p) => p['someip'] !== undefined).length).to.be.greaterThan(8);
  });
});
