import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEntry, runCliSync, workspaceDir } from '@sivshm/testing';

const bin = cliEntry().script;
/** The golden SD packets of @sivshm/discovery. */
const fixtures = join(workspaceDir('@sivshm/discovery'), 'test', 'fixtures');
/** The real vsomeip 3.7.4 Offer (packages/discovery/test/fixtures/vsomeip-offer.hex; docs/protocol.md §8). */
const VSOMEIP_OFFER =
  'ffff8100 00000030 00000001 01010200 c0000000 00000010 01000010 12345678 00000003 00000000 0000000c 00090400 7f000001 0011772d';

function sivshm(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  return sivshmWithInput(undefined, ...args);
}

function sivshmWithInput(
  input: string | undefined,
  ...args: string[]
): { code: number | null; stdout: string; stderr: string } {
  const r = runCliSync(args, input === undefined ? {} : { input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sivshm sd', function () {
  this.timeout(60_000);

  before(function () {
    if (!existsSync(bin)) {
      console.log(`      pending: ${bin} is not built; run npx tsc -b apps/cli`);
      this.skip();
    }
  });

  describe('decode', () => {
    it('should decode the real vsomeip Offer into service, instance, version, TTL and endpoint', () => {
      const r = sivshm('sd', 'decode', VSOMEIP_OFFER);
      expect(r.code, r.stderr).to.equal(0);
      const json = JSON.parse(r.stdout) as {
        entries: Array<Record<string, unknown>>;
        options: Array<Record<string, unknown>>;
      };
      expect(json.entries[0]).to.include({
        type: 'offer',
        serviceId: 0x1234,
        instanceId: 0x5678,
        majorVersion: 0,
        minorVersion: 0,
        ttl: 3,
      });
      expect(json.options[0]).to.deep.equal({
        type: 'ipv4Endpoint',
        address: '127.0.0.1',
        protocol: 'udp',
        port: 30509,
      });
    });

    it('should decode a .hex file and a binary file the same way', () => {
      const dir = mkdtempSync(join(tmpdir(), 'sivshm-sd-cli-'));
      try {
        const binFile = join(dir, 'offer.bin');
        writeFileSync(binFile, Buffer.from(VSOMEIP_OFFER.replace(/ /g, ''), 'hex'));
        const a = sivshm('sd', 'decode', join(fixtures, 'vsomeip-offer.hex'));
        const b = sivshm('sd', 'decode', binFile);
        expect(a.code).to.equal(0);
        expect(a.stdout).to.equal(b.stdout);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('should exit 1 naming the byte and the rule for a malformed message', () => {
      const r = sivshm('sd', 'decode', VSOMEIP_OFFER.replace('01010200', '02010200'));
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/SD byte 12: Protocol Version 2 must be 1 \[ERR_SD_HEADER\]/);
    });

    it('should exit 1 for input that is neither a file nor hex', () => {
      const r = sivshm('sd', 'decode', 'not-hex');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/ERR_SD_INPUT/);
    });
  });

  describe('encode', () => {
    it('should encode the documented JSON (hex ids accepted) to the vsomeip bytes', () => {
      const r = sivshm('sd', 'encode', join(fixtures, 'vsomeip-offer.json'));
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.equal(VSOMEIP_OFFER.replace(/ /g, ''));
    });

    it('should round-trip every golden packet: decode → encode gives the same bytes', () => {
      const dir = mkdtempSync(join(tmpdir(), 'sivshm-sd-cli-'));
      try {
        for (const name of [
          'vsomeip-find',
          'offer-ipv6-config-lb-sd-endpoint',
          'stop-subscribe-pair',
        ]) {
          const hexFile = join(fixtures, `${name}.hex`);
          const dec = sivshm('sd', 'decode', hexFile);
          expect(dec.code, dec.stderr).to.equal(0);
          const jsonFile = join(dir, `${name}.json`);
          writeFileSync(jsonFile, dec.stdout);
          const enc = sivshm('sd', 'encode', jsonFile);
          expect(enc.code, enc.stderr).to.equal(0);
          expect(enc.stdout.trim()).to.equal(readFileSync(hexFile, 'utf8').replace(/\s/g, ''));
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('should read the JSON from standard input when FILE is -', () => {
      const json = readFileSync(join(fixtures, 'vsomeip-offer.json'), 'utf8');
      const r = sivshmWithInput(json, 'sd', 'encode', '-');
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.equal(VSOMEIP_OFFER.replace(/ /g, ''));
    });

    it('should refuse JSON that breaks a rule, saying which', () => {
      const dir = mkdtempSync(join(tmpdir(), 'sivshm-sd-cli-'));
      try {
        const json = JSON.parse(readFileSync(join(fixtures, 'vsomeip-offer.json'), 'utf8')) as {
          options: unknown[];
        };
        json.options = [];
        const f = join(dir, 'bad.json');
        writeFileSync(f, JSON.stringify(json));
        const r = sivshm('sd', 'encode', f);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(/at least one endpoint option/);
        expect(r.stderr).to.match(/ERR_SD_ENCODE/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
