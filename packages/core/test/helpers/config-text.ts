// services.yaml text for the parseConfig specs: a valid base config (with the line numbers the
// specs assert), an in-memory .proto, and helpers that edit the text and check its issues.
import { expect } from 'chai';
import { formatConfigIssue, isConfigError } from '../../src/config/config-issue.js';
import type { ConfigIssue } from '../../src/config/config-issue.js';
import { parseConfig } from '../../src/config/parse-config.js';

export const KEY1 = '11'.repeat(32);
export const KEY3 = '33'.repeat(32);

// Line numbers below are the ones the tests assert; keep them in step when editing BASE.
export const BASE = [
  'version: 1', //                                                          1
  'region:', //                                                             2
  '  size: 16MiB', //                                                       3
  '  channelCapacity: 64', //                                               4
  'vms:', //                                                                5
  '  - id: 1', //                                                           6
  '    name: infotainment', //                                              7
  `    grantKey: { hex: "${KEY1}" }`, //                                    8
  '  - id: 2', //                                                           9
  '    name: cluster', //                                                   10
  '    grantKey: { env: SIVSHM_KEY_CLUSTER }', //                           11
  'protos: [test.proto]', //                                                12
  'services:', //                                                           13
  '  - name: VehicleSpeed', //                                              14
  '    id: 0x1234', //                                                      15
  '    instances: [1, 2]', //                                               16
  '    major: 1', //                                                        17
  '    minor: 0', //                                                        18
  '    provider: infotainment', //                                          19
  '    consumers: [cluster]', //                                            20
  '    minMode: mac', //                                                    21
  '    eventgroups:', //                                                    22
  '      - id: 1', //                                                       23
  '        name: speed', //                                                 24
  '        events:', //                                                     25
  '          - { id: 0x8001, name: speed, type: t.Speed }', //              26
  '    methods:', //                                                        27
  '      - { id: 0x0001, name: reset, request: t.Req, response: t.Res }', // 28
  '',
].join('\n');

export const SECOND_SERVICE = [
  '  - name: Media', //                                                     29
  '    id: 0x1235', //                                                      30
  '    instances: [1]', //                                                  31
  '    major: 1', //                                                        32
  '    provider: infotainment', //                                          33
  '',
].join('\n');

export const PROTO = `
syntax = "proto3";
package t;
message Speed { float kph = 1; }
message Req { uint64 odometer_m = 1; }
message Res { uint64 previous_odometer_m = 1; }
enum Mode { MODE_UNSPECIFIED = 0; }
`;

export const FILES: Record<string, string> = { '/cfg/test.proto': PROTO };
export const readFile = (p: string): string => {
  const text = FILES[p];
  if (text === undefined) throw new Error(`ENOENT: no such file, open '${p}'`);
  return text;
};

export function parse(text: string) {
  return parseConfig(text, { file: 'services.yaml', baseDir: '/cfg', readFile });
}

/** BASE with `from` (which must occur exactly once) replaced by `to`. */
export function edit(from: string, to: string, text = BASE): string {
  const at = text.indexOf(from);
  expect(at, `'${from}' in the base config`).to.be.greaterThan(-1);
  expect(text.indexOf(from, at + 1), `'${from}' occurs once`).to.equal(-1);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

export function issuesOf(text: string): readonly ConfigIssue[] {
  try {
    parse(text);
  } catch (e) {
    expect(isConfigError(e), String(e)).to.equal(true);
    if (isConfigError(e)) return e.issues;
  }
  expect.fail('expected the config to be rejected');
}

/** The single issue `text` produces. */
export function oneIssue(text: string): ConfigIssue {
  const issues = issuesOf(text);
  expect(issues.map(formatConfigIssue), 'exactly one issue').to.have.length(1);
  return issues[0]!;
}

export function expectIssue(
  text: string,
  line: number,
  column: number,
  path: string,
  message: string | RegExp,
): void {
  const i = oneIssue(text);
  expect({ line: i.line, column: i.column, path: i.path }).to.deep.equal({ line, column, path });
  if (typeof message === 'string') expect(i.message).to.equal(message);
  else expect(i.message).to.match(message);
  expect(i.file).to.equal('services.yaml');
}
