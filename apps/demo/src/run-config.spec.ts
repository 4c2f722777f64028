import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { writeRunConfig } from './run-config.js';

describe('writeRunConfig', () => {
  it('should move the region and make relative paths absolute, keeping the rest', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-runcfg-'));
    try {
      const src = path.join(dir, 'services.yaml');
      writeFileSync(
        src,
        `version: 1
region: { size: 4MiB, path: /dev/shm/x, channelCapacity: 8 }
vms:
  - { id: 1, name: a, grantKey: { file: keys/a.key } }
  - { id: 2, name: b, grantKey: { hex: "00" } }
  - { id: 3, name: c, grantKey: { file: /abs/c.key } }
protos: [proto/v.proto, /abs/w.proto]
services: []
`,
      );
      const out = path.join(dir, 'out.yaml');
      writeRunConfig(src, out, '/dev/shm/run-1');
      const y = parse(readFileSync(out, 'utf8')) as {
        region: unknown;
        vms: { grantKey: { file?: string; hex?: string } }[];
        protos: string[];
      };
      expect(y.region).to.deep.equal({
        size: '4MiB',
        path: '/dev/shm/run-1',
        channelCapacity: 8,
      });
      expect(y.vms[0]!.grantKey.file).to.equal(path.join(dir, 'keys/a.key'));
      expect(y.vms[1]!.grantKey).to.deep.equal({ hex: '00' });
      expect(y.vms[2]!.grantKey.file).to.equal('/abs/c.key');
      expect(y.protos).to.deep.equal([path.join(dir, 'proto/v.proto'), '/abs/w.proto']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should set every service to the mode asked for, and leave modes alone without one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-runcfg-'));
    try {
      const src = path.join(dir, 'services.yaml');
      writeFileSync(
        src,
        `services:
  - { name: A, minMode: plain }
  - { name: B }
`,
      );
      const out = path.join(dir, 'out.yaml');
      writeRunConfig(src, out, '/dev/shm/run-2', 'aead');
      const y = parse(readFileSync(out, 'utf8')) as { services: { minMode?: string }[] };
      expect(y.services.map((s) => s.minMode)).to.deep.equal(['aead', 'aead']);
      writeRunConfig(src, out, '/dev/shm/run-2');
      const z = parse(readFileSync(out, 'utf8')) as { services: { minMode?: string }[] };
      expect(z.services.map((s) => s.minMode)).to.deep.equal(['plain', undefined]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
