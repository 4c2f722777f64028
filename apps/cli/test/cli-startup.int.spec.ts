// A command loads only what it needs: the channel code (the transport and discovery packages,
// and rxjs's CommonJS build under them, hundreds of files Node reads and lexes at every start)
// is imported by the commands that use it, so `--help` and the `ca`/`cert` commands start
// without it. Start-up is CPU time, and on a busy machine CPU time is what a command waits for.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { cliEntry } from '@sivshm/testing';

/** Prints, at exit, every CommonJS module the process loaded (ESM workspaces import rxjs so). */
const REPORT_LOADED =
  'data:text/javascript,import{createRequire}from"node:module";const r=createRequire("/");' +
  'process.on("exit",()=>process.stderr.write("\\nLOADED "+JSON.stringify(Object.keys(r.cache))+"\\n"))';

/** The CommonJS files `sivshm <args>` loaded, whatever its exit status. */
function loadedBy(args: readonly string[]): string[] {
  const { execArgv, script } = cliEntry();
  const r = spawnSync(process.execPath, [...execArgv, '--import', REPORT_LOADED, script, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  expect(line, `no module report; stderr: ${r.stderr}`).to.not.equal(undefined);
  return JSON.parse(line!.slice('LOADED '.length)) as string[];
}

const fromRxjs = (files: string[]): string[] => files.filter((f) => f.includes('/rxjs/'));

describe('sivshm start-up', function () {
  this.timeout(60_000);

  it('should show --help without loading the channel code', () => {
    expect(fromRxjs(loadedBy(['--help']))).to.deep.equal([]);
  });

  it('should run a ca command without loading the channel code', () => {
    expect(fromRxjs(loadedBy(['ca', 'list', '--dir', '/nonexistent/ca']))).to.deep.equal([]);
  });

  it('should still load the SD codec for sd decode (the check above sees what it looks for)', () => {
    expect(fromRxjs(loadedBy(['sd', 'decode', '00'])).length).to.be.above(0);
  });
});
