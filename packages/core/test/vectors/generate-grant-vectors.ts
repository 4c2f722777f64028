// Regenerates test/fixtures/grant-vectors.json. Run: npx tsx packages/core/test/vectors/generate-grant-vectors.ts
// Changing the file is a wire change: the kernel module's test reads the same bytes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nobleBackend } from '../../src/crypto/noble-backend.js';
import { packageRoot } from '../../src/util/package-root.js';
import { buildGrantVectors } from './grant-vectors.js';

const file = join(packageRoot(import.meta.url), 'test', 'fixtures', 'grant-vectors.json');
const doc = {
  description:
    'sivshm grant tokens (docs/protocol.md §7): tag = HMAC-SHA256(key, label || token). Each vector is checked in a fresh device context whose serial state has seen `seenSerials`. Reasons name the first rule broken in the order: size, tag, magic, version, role, perms, pad, mode, doorbell, vm, epoch, kn, window, expired, replay. Grant version 2: bytes 88..103 are the channel doorbell route (db_peer u16, pad u16, db_ring u32, db_observe u32, pad u32).',
  label: 'sivshm v1 grant\u0000',
  vectors: buildGrantVectors(nobleBackend),
};
writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${doc.vectors.length} vectors to ${file}`);
