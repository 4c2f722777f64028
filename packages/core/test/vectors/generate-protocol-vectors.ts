// Regenerates test/fixtures/protocol-vectors.json (see protocol-vectors.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nobleBackend } from '../../src/crypto/noble-backend.js';
import { packageRoot } from '../../src/util/package-root.js';
import { buildProtocolVector } from './protocol-vectors.js';

const file = join(packageRoot(import.meta.url), 'test', 'fixtures', 'protocol-vectors.json');
const doc = {
  description:
    'sivshm protocol v1 handshake (docs/protocol.md §6) with fixed keys, nonces (xorshift seed) and clock: exact M1..M6 envelopes as sent on the control links, TH0..TH6 (TH5 branches from TH3), grant tokens and tags, and the derived channel keys in keyed modes.',
  vectors: (['plain', 'mac', 'aead'] as const).map((m) => buildProtocolVector(nobleBackend, m)),
};
writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${doc.vectors.length} protocol vectors to ${file}`);
