import { expect } from 'chai';
import { chooseKernels, guestKernelVersion, kernelSeries } from './kernels.js';

const INSTALLED = ['6.1.0-41-amd64', '6.1.0-57-amd64', '6.12.118+deb12-amd64'];

describe('the guest tiers choose their kernels', () => {
  it('should run every supported series installed, the newest kernel of each, by default', () => {
    const c = chooseKernels(undefined, INSTALLED);
    expect(c.kernels).to.deep.equal([
      { version: '6.1.0-57-amd64', label: '6.1' },
      { version: '6.12.118+deb12-amd64', label: '6.12' },
    ]);
    expect(c.notInstalled).to.deep.equal([]);
    expect(c.unknown).to.deep.equal([]);
  });

  it('should report a supported series that is not installed, with the packages that bring it', () => {
    const c = chooseKernels('', ['6.1.0-57-amd64']);
    expect(c.kernels.map((k) => k.version)).to.deep.equal(['6.1.0-57-amd64']);
    expect(c.notInstalled).to.deep.equal([
      { series: '6.12', hint: 'apt-get install linux-image-6.12-amd64 linux-headers-6.12-amd64' },
    ]);
  });

  it('should take series and full versions from the list, in its order, and name a kernel that is not installed', () => {
    const c = chooseKernels('6.12, 6.1.0-41-amd64,6.1.0-41-amd64,6.6', INSTALLED);
    expect(c.kernels.map((k) => k.version)).to.deep.equal([
      '6.12.118+deb12-amd64',
      '6.1.0-41-amd64',
    ]);
    expect(c.unknown).to.have.length(1);
    expect(c.unknown[0]).to.match(/^6\.6 \(apt-get install/);
  });

  it('should label two kernels of one series by their full versions', () => {
    const c = chooseKernels('6.1.0-41-amd64,6.1.0-57-amd64', INSTALLED);
    expect(c.kernels.map((k) => k.label)).to.deep.equal(['6.1.0-41-amd64', '6.1.0-57-amd64']);
  });

  it("should read the series of a version and the kernel a guest's console names", () => {
    expect(kernelSeries('6.12.118+deb12-amd64')).to.equal('6.12');
    expect(kernelSeries('6.1.0-57-amd64')).to.equal('6.1');
    expect(guestKernelVersion('@@ guest up\n@@ kernel 6.12.118+deb12-amd64\r\n@@ ok x')).to.equal(
      '6.12.118+deb12-amd64',
    );
    expect(guestKernelVersion('no such line')).to.equal(undefined);
  });
});
