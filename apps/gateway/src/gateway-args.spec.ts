import { expect } from 'chai';
import { GATEWAY_USAGE, parseGatewayArgs } from './gateway-args.js';

describe('sivshm-gateway arguments', () => {
  it('should read config, vm and run dir', () => {
    expect(
      parseGatewayArgs(['--config', 's.yaml', '--vm', 'gw', '--run-dir', '/run/sivshm']),
    ).to.deep.equal({
      help: false,
      config: 's.yaml',
      vm: 'gw',
      runDir: '/run/sivshm',
    });
  });

  it('should say what is missing or conflicting, in one line', () => {
    const message = (argv: string[]): string => {
      try {
        parseGatewayArgs(argv);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(message(['--vm', 'gw', '--run-dir', 'r'])).to.equal(
      '--config <services.yaml> is required',
    );
    expect(message(['--config', 'c', '--run-dir', 'r'])).to.equal(
      "--vm <name> (the gateway's VM) is required",
    );
    expect(message(['--config', 'c', '--vm', 'gw'])).to.match(/exactly one of --run-dir/);
    expect(
      message(['--config', 'c', '--vm', 'gw', '--run-dir', 'r', '--control-port', 'auto']),
    ).to.match(/exactly one/);
    expect(message(['--bogus'])).to.match(/^Unknown option '--bogus'/);
    expect(message(['--bogus'])).to.not.include('\n');
  });

  it('should give help that names every option', () => {
    expect(parseGatewayArgs(['--help']).help).to.equal(true);
    for (const o of ['--config', '--vm', '--run-dir', '--control-port'])
      expect(GATEWAY_USAGE).to.include(o);
  });
});
