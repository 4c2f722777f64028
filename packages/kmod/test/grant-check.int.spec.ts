import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { GrantLayout, SivshmVerdict, type SivshmVerdictName } from '@sivshm/abi';
import { packageRoot, readGrantVectors, type GrantVector } from '@sivshm/testing';

const ROOT = packageRoot(import.meta.url);
const vectors = readGrantVectors().vectors;

/** One stdin line of test/host/grant-check-host.c. */
function line(v: GrantVector, token = v.token, tag = v.tag): string {
  const c = v.context;
  const seen = c.seenSerials.length > 0 ? c.seenSerials.join(',') : '-';
  return [
    v.key,
    token,
    tag,
    c.vmId,
    c.epoch,
    c.kn,
    c.nowNs,
    c.regionSize,
    c.dataOffset,
    c.dataSize,
    seen,
  ].join(' ');
}

const expected = (v: GrantVector): number =>
  v.expect === 'accept' ? SivshmVerdict.ok : SivshmVerdict[v.reason as SivshmVerdictName];

const flipBit = (hex: string, bit: number): string => {
  const b = Buffer.from(hex, 'hex');
  b[bit >> 3] = (b[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return b.toString('hex');
};

describe('sivshm_check_grant (kernel/sivshm_grant.c, host build)', function () {
  this.timeout(60_000);
  let work: string;
  let bin: string;
  const check = (lines: string[]): number[] =>
    execFileSync(bin, { input: `${lines.join('\n')}\n`, encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);

  before(function () {
    if (!existsSync('/usr/include/openssl/hmac.h')) {
      console.log('skipping: the host build needs OpenSSL headers (apt-get install libssl-dev)');
      this.skip();
    }
    work = mkdtempSync(join(tmpdir(), 'sivshm-grant-'));
    bin = join(work, 'grant-check-host');
    try {
      execFileSync('gcc', [
        '-std=gnu11',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-I',
        join(ROOT, 'test/host/shim'),
        '-I',
        join(ROOT, 'include/uapi'),
        '-I',
        join(ROOT, 'kernel'),
        join(ROOT, 'test/host/grant-check-host.c'),
        join(ROOT, 'kernel/sivshm_grant.c'),
        '-lcrypto',
        '-o',
        bin,
      ]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        console.log('skipping: gcc is not installed');
        this.skip();
      }
      throw e;
    }
  });

  after(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  describe("@sivshm/core's grant vectors", () => {
    it('should cover accepted tokens and every rejection reason core names', () => {
      const reasons = new Set(vectors.map((v) => v.reason ?? 'ok'));
      expect([...reasons].sort()).to.include.members(['ok', 'tag', 'window', 'replay', 'kn']);
    });

    it("should give core's verdict for every vector", () => {
      const got = check(vectors.map((v) => line(v)));
      const mismatches = vectors
        .map((v, i) => ({ name: v.name, want: expected(v), got: got[i] }))
        .filter((r) => r.got !== r.want);
      expect(got).to.have.length(vectors.length);
      expect(mismatches).to.deep.equal([]);
    });
  });

  describe('.tag', () => {
    it('should refuse every single-bit change of an accepted token or its tag', () => {
      const v = vectors.find((x) => x.expect === 'accept');
      expect(v, 'the vector file has an accepted grant').to.not.equal(undefined);
      if (v === undefined) return;
      const lines: string[] = [];
      for (let bit = 0; bit < GrantLayout.size * 8; bit++)
        lines.push(line(v, flipBit(v.token, bit)));
      for (let bit = 0; bit < 32 * 8; bit++) lines.push(line(v, v.token, flipBit(v.tag, bit)));
      const got = check(lines);
      expect(got).to.have.length(lines.length);
      expect(got.filter((g) => g !== SivshmVerdict.tag)).to.deep.equal([]);
      expect(check([line(v)])).to.deep.equal([SivshmVerdict.ok]);
    });
  });
});
