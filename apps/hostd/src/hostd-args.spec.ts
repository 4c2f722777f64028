import { expect } from 'chai';
import path from 'node:path';
import { HostdError } from './errors/hostd-error.js';
import { parseHostdArgs } from './hostd-args.js';

describe('parseHostdArgs', () => {
  describe('parseHostdArgs()', () => {
    it('should resolve the paths and take the defaults', () => {
      const a = parseHostdArgs(['--config', 'x/services.yaml']);
      expect(a).to.deep.equal({
        configPath: path.resolve('x/services.yaml'),
        stateDir: '/var/lib/sivshm',
        runDir: '/run/sivshm',
        logLevel: 'info',
        emulated: true,
        vmSilenceTimeoutMs: 0,
        handshakeDeadlineMs: 1000,
        help: false,
      });
    });

    it('should give qemu mode a longer handshake deadline, and take --handshake-deadline-ms', () => {
      const at = (...rest: string[]) =>
        parseHostdArgs(['--config', 'a', ...rest]).handshakeDeadlineMs;
      expect(at('--qemu')).to.equal(5000);
      expect(at('--handshake-deadline-ms', '250')).to.equal(250);
      expect(at('--qemu', '--handshake-deadline-ms', '60000')).to.equal(60000);
      for (const bad of ['0', '60001', '1.5', 'soon']) {
        expect(() => at('--handshake-deadline-ms', bad))
          .to.throw(
            HostdError,
            /--handshake-deadline-ms .* must be a whole number of ms, 1\.\.60000/,
          )
          .with.property('code', 'ERR_ARGS');
      }
    });

    it('should take every option', () => {
      const a = parseHostdArgs([
        '--config',
        '/c.yaml',
        '--state-dir',
        '/s',
        '--run-dir',
        '/r',
        '--log-level',
        'debug',
        '--qemu',
        '--vm-timeout',
        '3000',
      ]);
      expect(a).to.include({
        stateDir: '/s',
        runDir: '/r',
        logLevel: 'debug',
        emulated: false,
        vmSilenceTimeoutMs: 3000,
      });
    });

    it('should refuse a missing --config, an unknown flag, a missing value and a bad level', () => {
      for (const [argv, msg] of [
        [[], /--config services.yaml is required/],
        [['--config', 'a', '--bogus'], /unknown argument --bogus/],
        [['--config'], /--config needs a value/],
        [['--config', 'a', '--log-level', 'loud'], /--log-level loud is not one of debug/],
        [['--config', 'a', '--vm-timeout', '-5'], /--vm-timeout -5 must be a whole number/],
        [['--config', 'a', '--vm-timeout', '1.5'], /must be a whole number of ms/],
      ] as const) {
        expect(() => parseHostdArgs(argv))
          .to.throw(HostdError, msg)
          .with.property('code', 'ERR_ARGS');
      }
    });

    it('should bind --metrics to loopback unless a remote bind is asked for', () => {
      const at = (...rest: string[]) => parseHostdArgs(['--config', 'a', ...rest]).metrics;
      expect(at('--metrics', '9464')).to.deep.equal({ host: '127.0.0.1', port: 9464 });
      expect(at('--metrics', '[::1]:0')).to.deep.equal({ host: '::1', port: 0 });
      expect(at('--metrics', '0.0.0.0:9464', '--metrics-allow-remote')).to.deep.equal({
        host: '0.0.0.0',
        port: 9464,
      });
      for (const [argv, msg] of [
        [['--metrics', '0.0.0.0:9464'], /not a loopback address: add --metrics-allow-remote/],
        [['--metrics', 'example.org:80'], /example.org is not an IP address/],
        [['--metrics', '127.0.0.1:70000'], /is not HOST:PORT/],
      ] as const) {
        expect(() => parseHostdArgs(['--config', 'a', ...argv]))
          .to.throw(HostdError, msg)
          .with.property('code', 'ERR_ARGS');
      }
    });

    it('should accept --help without --config', () => {
      expect(parseHostdArgs(['--help']).help).to.equal(true);
    });
  });
});
