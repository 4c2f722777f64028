import { expect } from 'chai';
import { UsageError, parseDemoArgs } from './demo-args.js';

describe('parseDemoArgs', () => {
  it('should default to the example config and no time bound', () => {
    const a = parseDemoArgs([], '/repo');
    expect(a).to.deep.equal({
      durationS: 0,
      config: '/repo/examples/services.yaml',
      mode: 'plain',
      help: false,
    });
  });

  it('should read --duration, --config and --help', () => {
    const a = parseDemoArgs(['--duration', '2.5', '--config', '/etc/s.yaml', '--help'], '/r');
    expect(a).to.deep.equal({ durationS: 2.5, config: '/etc/s.yaml', mode: 'plain', help: true });
  });

  it('should read --mode plain, mac or aead and refuse anything else', () => {
    for (const mode of ['plain', 'mac', 'aead'])
      expect(parseDemoArgs(['--mode', mode], '/r').mode).to.equal(mode);
    expect(() => parseDemoArgs(['--mode', 'tls'], '/r')).to.throw(UsageError, /plain, mac, aead/);
    expect(() => parseDemoArgs(['--mode'], '/r')).to.throw(UsageError, /--mode needs/);
  });

  it('should take --metrics HOST:PORT for hostd and refuse it without a value', () => {
    expect(parseDemoArgs(['--metrics', '127.0.0.1:9464'], '/r').metrics).to.equal('127.0.0.1:9464');
    expect(() => parseDemoArgs(['--metrics'], '/r')).to.throw(UsageError, /--metrics needs/);
  });

  it('should refuse a missing or negative duration and unknown arguments', () => {
    expect(() => parseDemoArgs(['--duration'], '/r')).to.throw(UsageError, /--duration/);
    expect(() => parseDemoArgs(['--duration', '-1'], '/r')).to.throw(UsageError, /≥ 0/);
    expect(() => parseDemoArgs(['--config'], '/r')).to.throw(UsageError, /--config needs/);
    expect(() => parseDemoArgs(['-x'], '/r')).to.throw(UsageError, /unknown argument -x/);
  });
});
