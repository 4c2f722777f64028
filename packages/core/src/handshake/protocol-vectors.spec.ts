import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nobleBackend } from '../crypto/noble-backend.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { SerialWindow } from '../grant/serial-window.js';
import { verifyGrant } from '../grant/grant-verify.js';
import { packageRoot } from '../util/package-root.js';
import { buildProtocolVector, type ProtocolVector } from '../../test/vectors/protocol-vectors.js';

const file = join(packageRoot(import.meta.url), 'test', 'fixtures', 'protocol-vectors.json');
const doc = JSON.parse(readFileSync(file, 'utf8')) as { vectors: ProtocolVector[] };
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

describe('protocol vectors (case 50)', () => {
  for (const v of doc.vectors) {
    for (const crypto of [nobleBackend, nodeBackend]) {
      it(`should reproduce the exact M1..M6, TH0..TH6 and grant tags of the ${v.mode} handshake (${crypto.name})`, () => {
        expect(buildProtocolVector(crypto, v.mode)).to.deep.equal(v);
      });
    }

    it(`should carry grant tokens in the ${v.mode} vector that the device accepts`, () => {
      for (const [role, g] of Object.entries(v.grants)) {
        const token = bytes(g.token);
        const kn = token.slice(56, 72);
        const verdict = verifyGrant(nodeBackend, bytes(g.key), token, bytes(g.tag), {
          vmId: role === 'consumer' ? 2 : 1,
          epoch: 7n,
          kn,
          nowNs: BigInt(v.nowMs) * 1_000_000n,
          region: { size: 1n << 30n, dataOffset: 0x10000n, dataSize: (1n << 30n) - 0x10000n },
          serials: new SerialWindow(),
        });
        expect(verdict.ok, role).to.equal(true);
      }
    });
  }
});
