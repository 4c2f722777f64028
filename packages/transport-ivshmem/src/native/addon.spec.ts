import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TransportError } from '../errors/transport-error.js';
import { addonPath, loadAddon, loadAddonFrom } from './addon.js';

describe('addon loader', () => {
  describe('.loadAddon', () => {
    it('should load the built binary with every native function', () => {
      const addon = loadAddon();
      for (const name of ['mapFile', 'unmap', 'eventfdCreate', 'pollStart', 'sendFds', 'ioctl']) {
        expect(addon).to.have.property(name).that.is.a('function');
      }
      expect(addonPath()).to.match(/build\/Release\/sivshm_native\.node$/);
    });
  });

  describe('.loadAddonFrom', () => {
    let dir = '';
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'sivshm-addon-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('should say how to build the addon when the binary is missing', () => {
      expect(() => loadAddonFrom(path.join(dir, 'missing.node')))
        .to.throw(TransportError, /was not built .*run npm ci; needs python3, make, g\+\+/)
        .with.property('code', 'ERR_ADDON');
    });

    it('should report a file that is not a loadable addon as ERR_ADDON', () => {
      const bogus = path.join(dir, 'bogus.node');
      writeFileSync(bogus, 'not an ELF file');
      expect(() => loadAddonFrom(bogus))
        .to.throw(TransportError, /does not load/)
        .with.property('code', 'ERR_ADDON');
    });
  });
});
