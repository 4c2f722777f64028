import { expect } from 'chai';
import path from 'node:path';
import { CoreError } from '../errors/core-error.js';
import { packageRoot } from '../util/package-root.js';
import type { VmConfig } from './config-types.js';
import { DEFAULT_VM_LIMITS } from './vm-limits-section.js';
import { resolveGrantKey } from './grant-key.js';

const FIXTURES = path.join(packageRoot(import.meta.url), 'test', 'fixtures', 'config');
const vm = (grantKey: VmConfig['grantKey']): VmConfig => ({
  id: 1,
  name: 'infotainment',
  grantKey,
  limits: DEFAULT_VM_LIMITS,
});

async function rejection(p: Promise<unknown>): Promise<CoreError> {
  try {
    await p;
  } catch (e) {
    expect(CoreError.is(e), String(e)).to.equal(true);
    return e as CoreError;
  }
  expect.fail('expected a rejection');
}

describe('resolveGrantKey', () => {
  describe('.file', () => {
    it('should read 32 raw bytes', async () => {
      const key = await resolveGrantKey(
        vm({ kind: 'file', path: path.join(FIXTURES, 'raw32.key') }),
      );
      expect(Array.from(key)).to.deep.equal(Array.from({ length: 32 }, (_, i) => i + 1));
    });

    it('should read 64 hex digits with surrounding whitespace', async () => {
      const key = await resolveGrantKey(vm({ kind: 'file', path: path.join(FIXTURES, 'hex.key') }));
      expect(Array.from(key)).to.deep.equal(Array.from({ length: 32 }, (_, i) => 0xa0 + i));
    });

    it('should refuse a file of the wrong length', async () => {
      const e = await rejection(
        resolveGrantKey(vm({ kind: 'file', path: path.join(FIXTURES, 'short.key') })),
      );
      expect(e.code).to.equal('ERR_BAD_KEY');
      expect(e.message).to.match(
        /grant key of vm 'infotainment' \(.*short\.key\): file holds 31 bytes; expected exactly 32 raw bytes or 64 hex digits/,
      );
    });

    it('should refuse 64 characters that are not hex', async () => {
      const e = await rejection(
        resolveGrantKey(vm({ kind: 'file', path: path.join(FIXTURES, 'nothex.key') })),
      );
      expect(e.code).to.equal('ERR_BAD_KEY');
    });

    it('should refuse an all-zero key', async () => {
      const e = await rejection(
        resolveGrantKey(vm({ kind: 'file', path: path.join(FIXTURES, 'zeros.key') })),
      );
      expect(e.code).to.equal('ERR_BAD_KEY');
      expect(e.message).to.match(/key is all zeros$/);
    });

    it('should report a missing file as ERR_IO naming the path', async () => {
      const missing = path.join(FIXTURES, 'missing.key');
      const e = await rejection(resolveGrantKey(vm({ kind: 'file', path: missing })));
      expect(e.code).to.equal('ERR_IO');
      expect(e.message).to.contain(missing).and.to.contain('ENOENT');
    });

    it('should refuse a directory', async () => {
      const e = await rejection(resolveGrantKey(vm({ kind: 'file', path: FIXTURES })));
      expect(e.code).to.equal('ERR_IO');
      expect(e.message).to.match(/not a regular file/);
    });
  });

  describe('.env', () => {
    it('should read 64 hex digits from the given environment', async () => {
      const key = await resolveGrantKey(vm({ kind: 'env', name: 'K' }), {
        env: { K: `${'ab'.repeat(32)}\n` },
      });
      expect(key).to.have.length(32);
      expect(key.every((b) => b === 0xab)).to.equal(true);
    });

    it('should say which variable is unset', async () => {
      const e = await rejection(resolveGrantKey(vm({ kind: 'env', name: 'K' }), { env: {} }));
      expect(e.code).to.equal('ERR_CONFIG');
      expect(e.message).to.equal(
        "grant key of vm 'infotainment': environment variable K is not set; set it to 64 hex digits",
      );
    });

    it('should refuse a value that is not 64 hex digits', async () => {
      const e = await rejection(
        resolveGrantKey(vm({ kind: 'env', name: 'K' }), { env: { K: 'abc' } }),
      );
      expect(e.code).to.equal('ERR_BAD_KEY');
      expect(e.message).to.match(/expected 64 hex digits \(32 bytes\), got 3 characters$/);
    });
  });

  describe('.hex', () => {
    it('should decode an inline key', async () => {
      const key = await resolveGrantKey(vm({ kind: 'hex', hex: '0f'.repeat(32) }));
      expect(key.every((b) => b === 0x0f)).to.equal(true);
    });

    it('should refuse an unknown source kind', async () => {
      const e = await rejection(
        resolveGrantKey(vm({ kind: 'vault' } as unknown as VmConfig['grantKey'])),
      );
      expect(e.message).to.match(/unknown source kind 'vault'; allowed: file, env, hex/);
    });
  });
});
