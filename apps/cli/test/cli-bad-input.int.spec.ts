// Every command with bad input — missing files, directories given as files, garbage files, bad
// numbers, usage slips — ends by itself with exactly one `sivshm <command>: …` line on stderr,
// exit 2 for a command line it cannot understand and 1 for the rest, and no stack frame.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expectOneLineFailure, sivshm } from './support/bounded-run.js';

/** The words that name a command or a command of a group: the line starts with them. */
const COMMAND_WORDS = new Set(
  'ca init issue revoke cert show config check sd decode encode inspect capture hostd status gen top gateway'.split(
    ' ',
  ),
);

interface Mistake {
  readonly args: readonly string[];
  readonly exit: 1 | 2;
  /** What the line must say after `sivshm <command>: `. */
  readonly says: RegExp;
}

describe('sivshm: bad input to every command is one line', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-bad-input-'));
    const r = await sivshm(['ca', 'init', '--dir', path.join(dir, 'ca')]);
    expect(r.status, r.stderr).to.equal(0);
    const issued = await sivshm([
      'ca',
      'issue',
      '--dir',
      path.join(dir, 'ca'),
      '--vm',
      '1',
      '--name',
      'app',
      '--new-key',
      path.join(dir, 'app.key'),
      '--out',
      path.join(dir, 'app.pem'),
    ]);
    expect(issued.status, issued.stderr).to.equal(0);
    mkdirSync(path.join(dir, 'adir'));
    mkdirSync(path.join(dir, 'not-a-ca'));
    writeFileSync(path.join(dir, 'garbage'), Buffer.from('\u0000\u00ff garbage \u0001 {['));
    writeFileSync(path.join(dir, 'empty'), '');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const at = (name: string): string => path.join(dir, name);
  const issue = (...more: string[]): string[] => [
    'ca',
    'issue',
    '--dir',
    at('ca'),
    '--vm',
    '1',
    '--name',
    'app',
    ...more,
  ];

  const mistakes = (): Record<string, Mistake> => ({
    'no command': { args: [], exit: 2, says: /name a command: ca, cert, config/ },
    'a group without its command': {
      args: ['ca'],
      exit: 2,
      says: /name a command: init, issue, revoke/,
    },
    'an unknown command': { args: ['frobnicate'], exit: 2, says: /unknown command 'frobnicate'/ },
    'an unknown option': {
      args: ['inspect', at('garbage'), '--colour'],
      exit: 2,
      says: /unknown option '--colour'/,
    },
    'ca init --dir FILE': {
      args: ['ca', 'init', '--dir', at('garbage')],
      exit: 1,
      says: /garbage is not a directory/,
    },
    'ca init --epoch -1': {
      args: ['ca', 'init', '--dir', at('x'), '--epoch', '-1'],
      exit: 2,
      says: /epoch "-1" must be a whole number/,
    },
    'ca init over a CA': {
      args: ['ca', 'init', '--dir', at('ca')],
      exit: 1,
      says: /exists; pass --force/,
    },
    'ca issue --validity-hours 0': {
      args: issue('--new-key', at('k1'), '--validity-hours', '0'),
      exit: 2,
      says: /validity "0" must be a whole number 1\.\.8760/,
    },
    'ca issue --public-key zz': {
      args: issue('--public-key', 'zz'),
      exit: 2,
      says: /--public-key must be 64 hex characters/,
    },
    'ca issue without a key': {
      args: issue(),
      exit: 2,
      says: /give exactly one of --public-key HEX or --new-key FILE/,
    },
    'ca issue --new-key EXISTING': {
      args: issue('--new-key', at('garbage')),
      exit: 1,
      says: /key file .*garbage already exists/,
    },
    'ca issue --new-key DIRECTORY': {
      args: issue('--new-key', at('adir')),
      exit: 1,
      says: /key file .*adir is a directory/,
    },
    'ca issue --out DIRECTORY': {
      args: issue('--new-key', at('k2'), '--out', at('adir')),
      exit: 1,
      says: /certificate file .*adir is a directory/,
    },
    'ca issue --offer 0x1234': {
      args: issue('--new-key', at('k3'), '--offer', '0x1234'),
      exit: 2,
      says: /must be SERVICE:INSTANCES/,
    },
    'ca issue --name TOO-LONG': {
      args: issue('--new-key', at('k4'), '--name', 'n'.repeat(65)),
      exit: 1,
      says: /subject is longer than 64 bytes \[ERR_CERT_INVALID\]/,
    },
    'ca revoke --serial 0': {
      args: ['ca', 'revoke', '--dir', at('ca'), '--serial', '0'],
      exit: 2,
      says: /serial "0" must be a whole number 1\.\./,
    },
    'ca revoke --serial abc': {
      args: ['ca', 'revoke', '--dir', at('ca'), '--serial', 'abc'],
      exit: 2,
      says: /serial "abc"/,
    },
    'ca revoke --dir FILE': {
      args: ['ca', 'revoke', '--dir', at('garbage'), '--serial', '1'],
      exit: 1,
      says: /CA directory .*garbage is not a directory/,
    },
    'ca revoke --dir NOT-A-CA': {
      args: ['ca', 'revoke', '--dir', at('not-a-ca'), '--serial', '1'],
      exit: 1,
      says: /cannot read .*ca-state\.json: no such file or directory \(run "sivshm ca init"\) \[ERR_IO\]/,
    },
    'cert show DIRECTORY': {
      args: ['cert', 'show', at('adir')],
      exit: 1,
      says: /certificate file .*adir is a directory/,
    },
    'cert show MISSING': {
      args: ['cert', 'show', at('missing.pem')],
      exit: 1,
      says: /cannot read certificate file .*missing\.pem: it does not exist/,
    },
    'cert show GARBAGE': {
      args: ['cert', 'show', at('garbage')],
      exit: 1,
      says: /garbage is not a sivshm certificate/,
    },
    'cert show EMPTY': {
      args: ['cert', 'show', at('empty')],
      exit: 1,
      says: /empty is not a sivshm certificate/,
    },
    'cert show --ca-dir MISSING': {
      args: ['cert', 'show', at('app.pem'), '--ca-dir', at('nope')],
      exit: 1,
      says: /CA directory .*nope does not exist \(create one with `sivshm ca init/,
    },
    'config check DIRECTORY': {
      args: ['config', 'check', at('adir')],
      exit: 1,
      says: /cannot read config .*adir: not a regular file \[ERR_IO\]/,
    },
    'config check MISSING': {
      args: ['config', 'check', at('missing.yaml')],
      exit: 1,
      says: /cannot read config .*missing\.yaml: no such file or directory \[ERR_IO\]/,
    },
    'sd decode zz': {
      args: ['sd', 'decode', 'zz'],
      exit: 1,
      says: /neither an existing file nor hex text .*\[ERR_SD_INPUT\]/,
    },
    'sd decode EMPTY': {
      args: ['sd', 'decode', at('empty')],
      exit: 1,
      says: /needs 28 bytes but only 0 remain \[ERR_SD_TRUNCATED\]/,
    },
    'sd encode GARBAGE': {
      args: ['sd', 'encode', at('garbage')],
      exit: 1,
      says: /garbage is not JSON: .*\[ERR_SD_JSON\]/,
    },
    'sd encode DIRECTORY': {
      args: ['sd', 'encode', at('adir')],
      exit: 1,
      says: /JSON file .*adir is a directory/,
    },
    'inspect DIRECTORY': {
      args: ['inspect', at('adir')],
      exit: 1,
      says: /cannot open region .*adir: it is not a file/,
    },
    'inspect MISSING': {
      args: ['inspect', at('missing')],
      exit: 1,
      says: /cannot open region .*missing: no such file or directory/,
    },
    'inspect EMPTY': {
      args: ['inspect', at('empty')],
      exit: 1,
      says: /cannot open region .*empty: it is empty/,
    },
    'inspect GARBAGE': {
      args: ['inspect', at('garbage')],
      exit: 1,
      says: /region .*\[ERR_REGION\]$/,
    },
    'capture --region DIRECTORY': {
      args: ['capture', '--region', at('adir'), '--channel', '1', '--out', at('x.pcap')],
      exit: 1,
      says: /cannot open region .*adir: it is not a file/,
    },
    'capture --count 1.5': {
      args: [
        'capture',
        '--region',
        at('garbage'),
        '--channel',
        '1',
        '--out',
        at('x.pcap'),
        '--count',
        '1.5',
      ],
      exit: 2,
      says: /count "1\.5" must be a whole number of frames/,
    },
    'capture --duration -1': {
      args: [
        'capture',
        '--region',
        at('garbage'),
        '--channel',
        '1',
        '--out',
        at('x.pcap'),
        '--duration',
        '-1',
      ],
      exit: 2,
      says: /duration "-1" must be a positive number of seconds/,
    },
    'capture --channel zz': {
      args: ['capture', '--region', at('garbage'), '--channel', 'zz', '--out', at('x.pcap')],
      exit: 2,
      says: /must be a decimal or 0x hex u64/,
    },
    'hostd without --config': {
      args: ['hostd'],
      exit: 2,
      says: /required option '--config <file>' not specified/,
    },
    'hostd --vm-timeout soon': {
      args: ['hostd', '--config', at('garbage'), '--vm-timeout', 'soon'],
      exit: 2,
      says: /vm timeout "soon" must be a whole number 0\.\.3600000/,
    },
    'hostd --log-level loud': {
      args: ['hostd', '--config', at('garbage'), '--log-level', 'loud'],
      exit: 2,
      says: /Allowed choices are debug, info, warn, error/,
    },
    'gen --config MISSING': {
      args: ['gen', '--config', at('missing.yaml'), '--out', at('out.ts')],
      exit: 1,
      says: /cannot read config .*missing\.yaml: no such file or directory \[ERR_IO\]/,
    },
    'gen --config GARBAGE': {
      args: ['gen', '--config', at('garbage'), '--out', at('out.ts')],
      exit: 1,
      says: /garbage:\d+:\d+: /,
    },
    'gen --out DIRECTORY': {
      args: ['gen', '--config', at('garbage'), '--out', at('adir')],
      exit: 1,
      says: /output file .*adir is a directory; give a file name/,
    },
    'gen --out in a MISSING directory': {
      args: ['gen', '--config', at('garbage'), '--out', at('missing/out.ts')],
      exit: 1,
      says: /cannot write output file .*out\.ts: directory .*missing does not exist/,
    },
    'gen without --out': {
      args: ['gen', '--config', at('garbage')],
      exit: 2,
      says: /required option '--out <file>' not specified/,
    },
    'top --interval 0': {
      args: ['top', '--run-dir', at('missing'), '--interval', '0'],
      exit: 2,
      says: /interval "0" must be a whole number 100\.\.60000/,
    },
    'top --run-dir MISSING': {
      args: ['top', '--run-dir', at('missing'), '--once'],
      exit: 1,
      says: /cannot read hostd's status at .*status\.sock \(no such file or directory\); is hostd running with this --run-dir\?/,
    },
    'gateway without --vm': {
      args: ['gateway', '--config', at('garbage')],
      exit: 2,
      says: /required option '--vm <name>' not specified/,
    },
    'status --run-dir MISSING': {
      args: ['status', '--run-dir', at('missing')],
      exit: 1,
      says: /no hostd answers at .*status\.sock \(no such file or directory\)/,
    },
  });

  it('should end every command with one line that names the command and the mistake', async () => {
    const seen: string[] = [];
    for (const [name, m] of Object.entries(mistakes())) {
      const r = await sivshm(m.args);
      const words = m.args
        .slice(0, 2)
        .filter((a, i) => COMMAND_WORDS.has(a) && (i === 0 || COMMAND_WORDS.has(m.args[0]!)));
      const command = ['sivshm', ...words].join(' ');
      try {
        const line = expectOneLineFailure(r, m.exit, m.says);
        expect(line.startsWith(`${command}: `), `not from ${command}`).to.equal(true);
        seen.push(line);
      } catch (e) {
        (e as Error).message = `${name} (${command}): ${(e as Error).message}`;
        throw e;
      }
    }
    expect(seen).to.have.length(Object.keys(mistakes()).length);
  });

  it('should print the stack of an error only with SIVSHM_DEBUG=1', async () => {
    const args = ['sd', 'encode', at('missing.json')];
    const quiet = await sivshm(args);
    expectOneLineFailure(quiet, 1, /^sivshm sd encode: /);
    const loud = await sivshm(args, { env: { ...process.env, SIVSHM_DEBUG: '1' } });
    expect(loud.status).to.equal(1);
    expect(loud.stderr.split('\n')[0]).to.equal(quiet.stderr.trimEnd());
    expect(loud.stderr).to.match(/^\s+at /m);
  });
});
