import { expect } from 'chai';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { examplePath, makeDeployment, type Deployment } from '@sivshm/testing';
import { expectOneLineFailure, sivshm } from './support/bounded-run.js';

describe('sivshm gateway', function () {
  this.timeout(60_000);
  let d: Deployment;

  before(() => {
    // VehicleSpeed is consumed by 'cluster' only: the 'gateway' VM may not consume it.
    d = makeDeployment({
      label: 'cli-gateway',
      vms: [
        { id: 1, name: 'infotainment' },
        { id: 2, name: 'cluster' },
        { id: 3, name: 'gateway' },
      ],
      services: [{ name: 'VehicleSpeed', consumers: ['cluster'] }],
    });
  });
  after(() => d?.cleanup());

  /** `sivshm gateway` in emulated mode on the deployment's run dir. */
  const runGateway = (config: string, vm: string): ReturnType<typeof sivshm> =>
    sivshm(['gateway', '--config', config, '--vm', vm, '--run-dir', d.runDir]);

  it('--help names every option and shows an example', async () => {
    const r = await sivshm(['gateway', '--help']);
    expect(r.status).to.equal(0);
    for (const o of ['--config', '--vm', '--run-dir', '--control-port', 'Reaching other ECUs'])
      expect(r.stdout).to.include(o);
  });

  it('without --run-dir or --control-port: exit 2, one line', async () => {
    const r = await sivshm(['gateway', '--config', d.configPath, '--vm', 'gateway']);
    expectOneLineFailure(
      r,
      2,
      /^sivshm gateway: give exactly one of --run-dir .* or --control-port/,
    );
  });

  it('a config without a gateway: section: exit 1, one line that says what to add', async () => {
    const r = await runGateway(examplePath('services.yaml'), 'cluster');
    expectOneLineFailure(
      r,
      1,
      /^sivshm-gateway: .*services\.yaml has no gateway: section; add one/,
    );
  });

  it('a bad gateway: section: exit 1, one line with file:line:column', async () => {
    const before = readFileSync(d.configPath, 'utf8');
    const line = before.split('\n').length + 2; // after a blank line and 'gateway:'
    appendFileSync(
      d.configPath,
      '\ngateway:\n  unicast: 224.0.0.1\n  export:\n    - { service: VehicleSpeed, instance: 1, udp: 30501 }\n',
    );
    const r = await runGateway(d.configPath, 'gateway');
    expectOneLineFailure(
      r,
      1,
      new RegExp(
        `^sivshm-gateway: .*services\\.yaml:${line}:12: gateway\\.unicast: 224\\.0\\.0\\.1 is not a unicast IPv4 address$`,
      ),
    );
  });

  it('an export its VM may not consume: exit 1, one line naming the fix', async () => {
    const text = readFileSync(d.configPath, 'utf8').replace(
      'unicast: 224.0.0.1',
      'unicast: 10.0.0.5',
    );
    writeFileSync(d.configPath, text);
    const r = await runGateway(d.configPath, 'gateway');
    expectOneLineFailure(
      r,
      1,
      /^sivshm-gateway: gateway VM 'gateway' may not consume VehicleSpeed, which gateway\.export lists; add it to VehicleSpeed's consumers$/,
    );
  });
});
