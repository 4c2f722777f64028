import { expect } from 'chai';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { CoreError } from '../errors/core-error.js';
import { isConfigError } from './config-issue.js';
import { parseConfig } from './parse-config.js';

const VALID = `version: 1
region: { size: 1MiB, channelCapacity: 8 }
vms:
  - { id: 1, name: a, grantKey: { env: KA }, limits: { burst: 2 } }
  - { id: 2, name: b, grantKey: { hex: "${'12'.repeat(32)}" } }
protos: [t.proto]
services:
  - name: S
    id: 0x10
    instances: [1, 2]
    major: 1
    provider: a
    consumers: [b]
    eventgroups:
      - { id: 1, name: g, events: [{ id: 0x8001, name: e, type: t.M }] }
    methods:
      - { id: 1, name: m, request: t.M, response: t.M }
`;

const FILES: Record<string, string> = {
  '/f/t.proto': 'syntax = "proto3"; package t; message M { uint32 x = 1; }',
};
const readFile = (p: string): string => {
  const t = FILES[p];
  if (t === undefined) throw new Error(`ENOENT ${p}`);
  return t;
};

/** Parses `text`; anything thrown must be a CoreError, and a config error must carry issues. */
function check(text: string): void {
  try {
    parseConfig(text, { file: 'fuzz.yaml', baseDir: '/f', readFile });
  } catch (e) {
    if (!CoreError.is(e)) throw e;
    if (e.code === 'ERR_CONFIG') {
      expect(isConfigError(e), 'ERR_CONFIG carries issues').to.equal(true);
      if (isConfigError(e)) {
        expect(e.issues.length).to.be.greaterThan(0);
        for (const i of e.issues) {
          expect(i.line).to.be.at.least(1);
          expect(i.column).to.be.at.least(1);
          expect(i.path).not.to.equal('');
          // Every rejection names a concrete problem, never the catch-all.
          expect(i.message).not.to.equal('invalid config');
        }
      }
    }
  }
}

// Pieces that YAML and this schema care about, so random text reaches deep paths.
const token = fc.constantFrom(
  'version',
  'region',
  'size',
  'vms',
  'services',
  'id',
  'name',
  'instances',
  'grantKey',
  'provider',
  'consumers',
  'eventgroups',
  'events',
  'methods',
  'type',
  ':',
  ' ',
  '\n',
  '  ',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '&a',
  '*a',
  '!!str',
  '0x',
  '1',
  'FFFF',
  'MiB',
  '"',
  "'",
  '#',
  '---',
  '? ',
  '|',
  '>',
  '\t',
  '<<',
  'null',
  '~',
  'true',
);

describe('parseConfig (fuzz)', function () {
  // Run counts bound the work; the timeout only leaves room for a busy shared machine.
  this.timeout(120_000);

  describe('.text', () => {
    it('should throw nothing but CoreError for arbitrary text', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 400 }), (s) => check(s)),
        { numRuns: 300 },
      );
    });

    it('should throw nothing but CoreError for YAML-ish token soup', () => {
      fc.assert(
        fc.property(fc.array(token, { maxLength: 120 }), (parts) => check(parts.join(''))),
        { numRuns: 300 },
      );
    });
  });

  describe('.mutations', () => {
    it('should throw nothing but CoreError for one-edit mutations of a valid config', () => {
      expect(() => check(VALID)).not.to.throw();
      fc.assert(
        fc.property(
          fc.nat({ max: VALID.length - 1 }),
          fc.nat({ max: 8 }),
          fc.string({ maxLength: 8 }),
          (at, cut, insert) => check(VALID.slice(0, at) + insert + VALID.slice(at + cut)),
        ),
        { numRuns: 400 },
      );
    });

    it('should throw nothing but CoreError for arbitrary values in valid positions', () => {
      const doc = fc.record({
        version: fc.anything(),
        region: fc.oneof(fc.anything(), fc.record({ size: fc.anything() })),
        vms: fc.array(
          fc.record({ id: fc.anything(), name: fc.anything(), grantKey: fc.anything() }),
          { maxLength: 3 },
        ),
        services: fc.array(fc.dictionary(fc.string({ maxLength: 10 }), fc.anything()), {
          maxLength: 3,
        }),
      });
      fc.assert(
        fc.property(doc, (d) => {
          let text: string;
          try {
            text = stringify(d);
          } catch {
            return; // not representable as YAML; nothing to feed the loader
          }
          check(text);
        }),
        { numRuns: 200 },
      );
    });
  });
});
