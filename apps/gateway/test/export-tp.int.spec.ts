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
import type { Reassembled } from './support/export-tp-scenario.js';
import { runInNamespace } from './support/run-in-namespace.js';
import { REASON_BYTES, TITLE_BYTES } from './support/tp-sizes.js';

interface Report {
  pcap: string;
  log: string[];
  gatewayLog: string[];
  events: Array<Reassembled & { title: number; playing: boolean }>;
  response: Reassembled & { accepted: boolean; reason: string };
  plain: Array<{ datagramBytes: number; messages: Array<{ messageType: number; length: number }> }>;
  counters: Record<string, number>;
}

/** The gateway's datagram budget and vsomeip's default maximum segment length. */
const DATAGRAM_BUDGET = 1400;
const SEGMENT = 1392;

describe('sivshm gateway: SOME/IP-TP segmentation on send (private network namespace, hostd + provider VM)', function () {
  this.timeout(150_000);
  let dir: string;
  let report: Report;

  before(function () {
    const missing = tsharkMissing() ?? netNamespaceMissing();
    if (missing !== undefined) {
      console.log(`      pending: ${missing}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'sivshm-gateway-tp-'));
    const r = runInNamespace(import.meta.url, 'support/export-tp-scenario', SETUP, [dir]);
    expect(r.status, `scenario failed: ${r.stderr}`).to.equal(0);
    report = JSON.parse(r.stdout) as Report;
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The segments of one message: each alone in its datagram, TP header in order, 16-aligned. */
  function expectSegmentsOf(m: Reassembled, messageType: number, segments: number): void {
    expect(m.segments, JSON.stringify(m.segments)).to.have.length(segments);
    const total = m.payload.length / 2;
    m.segments.forEach((s, i) => {
      const last = i === segments - 1;
      expect(s).to.include({ messageType: messageType | 0x20, messagesInDatagram: 1 });
      expect(s).to.include({ offset: i * SEGMENT, more: !last, reserved: 0 });
      expect(s.length, 'Length: 8 + TP header + piece').to.equal(
        8 + 4 + (last ? total - i * SEGMENT : SEGMENT),
      );
      expect(s.sessionId, 'one Request ID for every segment').to.equal(m.segments[0]!.sessionId);
      expect(s.clientId).to.equal(m.segments[0]!.clientId);
    });
  }

  it('should send a 2–4 KiB event of an export with tp as 1 392-byte SOME/IP-TP segments, one per datagram, that rebuild the protobuf event', () => {
    expect(report.events.length).to.be.at.least(3);
    for (const e of report.events) {
      const bytes = Buffer.from(e.payload, 'hex');
      expect(bytes.length).to.be.within(2048, 4096);
      expectSegmentsOf(e, 0x02, 3);
      // Decoded by the scenario with the config's .proto files.
      expect(e.title, 'the title length of the rebuilt MediaState').to.equal(TITLE_BYTES);
      expect(e.playing).to.equal(true);
    }
    // Each event a new session, counting up (a datagram lost on loopback may leave a gap).
    const sessions = report.events.map((e) => e.sessionId);
    sessions.slice(1).forEach((s, i) => expect(s).to.be.greaterThan(sessions[i]!));
  });

  it('should send a large method response as segments with the request id of the request (0xA0 then 0x80 rebuilt)', () => {
    const r = report.response;
    expect(r.sessionId).to.equal(3);
    expect(r.segments[0]!.clientId).to.equal(0x51);
    expectSegmentsOf(r, 0x80, 2);
    // MediaControlResponse, decoded by the scenario.
    expect(r.accepted).to.equal(true);
    expect(r.reason).to.equal('r'.repeat(REASON_BYTES));
    expect(report.counters['tpSegmented']).to.be.at.least(report.events.length + 1);
  });

  it('should send an export without tp its large events unsegmented, counted as oversized and logged once with the fix', () => {
    for (const d of report.plain) {
      expect(d.datagramBytes).to.be.greaterThan(DATAGRAM_BUDGET);
      expect(d.messages).to.have.length(1);
      expect(d.messages[0]!.messageType).to.equal(0x02);
    }
    expect(report.counters['oversized']).to.be.at.least(report.plain.length);
    const lines = report.gatewayLog.filter((l) => l.includes('enable tp'));
    expect(lines, report.gatewayLog.join('\n')).to.have.length(1);
    expect(lines[0]).to.match(
      /^MediaControl\/2: a \d+-byte SOME\/IP message is past one UDP datagram/,
    );
    expect(lines[0]).to.contain(
      "enable tp for service MediaControl: add 'tp: true' to its gateway.export entry",
    );
  });

  it('should put only packets on the wire that tshark decodes as SOME/IP(-SD), segments included, with no expert item', () => {
    const decoded = tsharkDecodeFile(report.pcap, {
      someipUdpPorts: [30490, 30511, 30512, 40010, 40011],
      checksums: false,
    });
    expect(decoded.expert, `tshark expert items:\n${decoded.expert}`).to.not.match(
      /^(Errors|Warns|Warnings|Notes|Chats) \(/m,
    );
    const segments = decoded.packets.filter(
      (p) =>
        fieldValues(p['someip'], 'someip.messagetype').some((t) => t === '0x22' || t === '0xa0') &&
        fieldValues(p['udp'], 'udp.srcport').includes('30511'),
    );
    expect(segments.length).to.be.at.least(3 * report.events.length + 2);
    for (const p of decoded.packets) expect(Object.keys(p)).to.not.include('_ws.malformed');
  });
});
