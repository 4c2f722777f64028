import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChannelDevice } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';
import { openDoorbells } from './open-doorbells.js';

describe('openDoorbells', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-doorbell-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('should say where it looked when no ivshmem server answers (emulated mode)', async () => {
    const emulated = {} as ChannelDevice;
    const err = await openDoorbells(emulated, path.join(dir, 'nothing.sock')).catch(
      (e: unknown) => e,
    );
    expect(RuntimeError.is(err)).to.equal(true);
    expect((err as RuntimeError).code).to.equal('ERR_CONNECT');
    expect((err as Error).message).to.match(/ivshmem server at .*nothing\.sock/);
  });
});
