import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LOOPBACK_NAMESPACE_SETUP as SETUP,
  fieldValues,
  netNamespaceMissing,
  tsharkDecodeFile,
  tsharkMissing,
} from '@sivshm/testing';
import { runInNamespace } from './support/run-in-namespace.js';

interface Reply {
  from: string;
  serviceId: number;
  methodId: number;
  clientId: number;
  sessionId: number;
  interfaceVersion: number;
  messageType: number;
  returnCode: number;
  payload: string;
}

interface Report {
  pcap: string;
  log: string[];
  gatewayLog: string[];
  offer: {
    instanceId: number;
    major: number;
    endpoints: Array<{ address: string; protocol: number; port: number }>;
  };
  events: Array<Reply & { kph: number }>;
  ok: Reply;
  unknownMethod: Reply;
  undecodable: Reply;
  wrongVersion: Reply;
  tpResponse: Reply & { segments: number };
  callsBefore: number;
  callsAfterJunk: number;
  providerCalls: number;
  multicastOffers: number;
  stopOfferSeen: boolean;
  fireAndForgetReplies: number;
  eventsAfterTtl: number;
  eventsAfterReboot: number;
  multicastAck: { multicast: Array<{ address: string; port: number }> };
  multicastEvents: Array<Reply & { kph: number }>;
  tcpResponse: Reply;
  tcpEvents: Reply[];
  tcpMalformed: number;
  counters: Record<string, number>;
}

describe('sivshm gateway: export over SOME/IP (private network namespace, hostd + provider VM)', function () {
  this.timeout(150_000);
  let dir: string;
  let report: Report;

  before(function () {
    const missing = tsharkMissing() ?? netNamespaceMissing();
    if (missing !== undefined) {
      console.log(`      pending: ${missing}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'sivshm-gateway-'));
    const r = runInNamespace(import.meta.url, 'support/export-scenario', SETUP, [dir]);
    expect(r.status, `scenario failed: ${r.stderr}`).to.equal(0);
    report = JSON.parse(r.stdout) as Report;
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('should offer the exported service with SOME/IP-SD on the gateway address and its UDP port', () => {
    expect(report.offer.instanceId).to.equal(1);
    expect(report.offer.major).to.equal(1);
    expect(report.multicastOffers, 'cyclic Offers on the SD group').to.be.at.least(2);
    expect(report.offer.endpoints).to.deep.equal([
      { address: '127.0.0.1', protocol: 0x11, port: 30501 },
      { address: '127.0.0.1', protocol: 0x06, port: 30502 },
    ]);
  });

  it("should send the service's events as SOME/IP notifications with its protobuf bytes to the subscriber", () => {
    expect(report.events).to.have.length(5);
    for (const e of report.events) {
      expect(e).to.include({
        from: '127.0.0.1:30501',
        serviceId: 0x1234,
        methodId: 0x8001,
        clientId: 0,
      });
      expect(e).to.include({ interfaceVersion: 1, messageType: 0x02, returnCode: 0 });
      expect(e.kph).to.be.within(50, 99);
    }
    const sessions = report.events.map((e) => e.sessionId);
    expect(sessions[0]).to.be.greaterThan(0);
    sessions.slice(1).forEach((s, i) => expect(s).to.equal(sessions[i]! + 1));
  });

  it("should answer a request over UDP with the provider VM's response (0x80, E_OK, same request id)", () => {
    expect(report.ok).to.include({
      from: '127.0.0.1:30501',
      serviceId: 0x1234,
      methodId: 1,
      clientId: 0x42,
      sessionId: 1,
    });
    expect(report.ok).to.include({ messageType: 0x80, returnCode: 0 });
    // ResetResponse { previous_odometer_m: > 1000 }: field 1 varint.
    expect(report.ok.payload.slice(0, 2)).to.equal('08');
  });

  it('should run a fire-and-forget request (0x01) on the VM and send nothing back', () => {
    expect(report.fireAndForgetReplies).to.equal(0);
  });

  it('should answer an unknown method, an undecodable payload and a wrong interface version with 0x81 and the return code', () => {
    expect(report.unknownMethod).to.include({
      messageType: 0x81,
      returnCode: 0x03,
      methodId: 0x99,
      sessionId: 2,
    });
    expect(report.undecodable).to.include({ messageType: 0x81, returnCode: 0x09, sessionId: 3 });
    expect(report.wrongVersion).to.include({ messageType: 0x81, returnCode: 0x08, sessionId: 4 });
  });

  it('should reassemble a request sent as SOME/IP-TP segments, pass it to the VM and answer it', () => {
    expect(report.tpResponse.segments).to.equal(3);
    expect(report.tpResponse).to.include({ messageType: 0x80, returnCode: 0, sessionId: 7 });
    // ResetResponse { previous_odometer_m: 6 }: the fire-and-forget request had set 6 before.
    expect(report.tpResponse.payload).to.equal('0806');
  });

  it("should serve a method over TCP (a request split across segments) and send events over the subscriber's TCP connection", () => {
    expect(report.offer.endpoints).to.deep.include({
      address: '127.0.0.1',
      protocol: 0x06,
      port: 30502,
    });
    expect(report.tcpResponse).to.include({
      messageType: 0x80,
      returnCode: 0,
      clientId: 0x43,
      sessionId: 9,
    });
    expect(report.tcpEvents).to.have.length(3);
    for (const e of report.tcpEvents)
      expect(e).to.include({ serviceId: 0x1234, methodId: 0x8001, messageType: 0x02 });
  });

  it('should count a broken TCP stream and close that connection', () => {
    expect(report.tcpMalformed).to.equal(1);
  });

  it('should name the multicast eventgroup address in the Ack and send the events to that group', () => {
    expect(report.multicastAck.multicast).to.deep.equal([{ address: '239.1.1.1', port: 30600 }]);
    expect(report.multicastEvents).to.have.length(3);
    for (const e of report.multicastEvents) {
      expect(e).to.include({
        from: '127.0.0.1:30503',
        serviceId: 0x1234,
        methodId: 0x8001,
        messageType: 0x02,
      });
      expect(e.kph, 'instance 2 publishes 150..199').to.be.within(150, 199);
    }
  });

  it('should stop sending events to a subscriber whose subscription TTL expired unrenewed', () => {
    expect(report.eventsAfterTtl).to.equal(0);
  });

  it('should drop the subscriptions of a peer that rebooted', () => {
    expect(report.eventsAfterReboot).to.equal(0);
  });

  it('should send StopOffer when the providing VM goes away', () => {
    expect(report.stopOfferSeen).to.equal(true);
  });

  it('should count and drop malformed datagrams, and let nothing undecoded reach the VM', () => {
    expect(report.counters['malformed']).to.be.at.least(3);
    expect(report.counters['undecodable']).to.equal(1);
    expect(report.callsAfterJunk).to.equal(report.callsBefore);
    // the UDP, fire-and-forget, SOME/IP-TP and TCP resets
    expect(report.providerCalls).to.equal(4);
  });

  it('should put only packets on the wire that tshark decodes as SOME/IP(-SD) with no expert warning', () => {
    const decoded = tsharkDecodeFile(report.pcap, {
      someipUdpPorts: [30490, 30501, 30503, 30600, 40000],
      someipTcpPorts: [30502],
      checksums: false,
    });
    // No error or warning at all; the only notes and chats allowed are TCP's own connection
    // set-up and tear-down (SYN, FIN), which tshark lists for every closed connection.
    expect(decoded.expert, `tshark expert errors or warnings:\n${decoded.expert}`).to.not.match(
      /^(Errors|Warns|Warnings) \(/m,
    );
    const items = decoded.expert.split('\n').filter((l) => /^\s+\d+\s+\S+\s+\S+\s+/.test(l));
    for (const item of items)
      expect(item, 'an expert item that is not TCP bookkeeping').to.match(
        /^\s+\d+\s+Sequence\s+TCP\s+/,
      );
    const someip = decoded.packets.filter((p) => p['someip'] !== undefined);
    expect(someip.length).to.be.greaterThan(10);
    const notifications = decoded.packets.filter(
      (p) =>
        fieldValues(p['someip'], 'someip.messagetype').includes('0x02') &&
        fieldValues(p['udp'], 'udp.srcport').includes('30501'),
    );
    expect(notifications.length).to.be.at.least(5);
    for (const p of decoded.packets) expect(Object.keys(p)).to.not.include('_ws.malformed');
  });
});
