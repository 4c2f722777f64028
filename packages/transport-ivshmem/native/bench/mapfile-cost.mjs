// One-off measurement: cost of mapFile + unmap (and of the first touch of every page).
// Run (after npm ci / npx tsc -b packages/transport-ivshmem):
//   node packages/transport-ivshmem/native/bench/mapfile-cost.mjs
import { unlinkSync } from 'node:fs';
import { closeFd, createRegionFile, mapFile, unmap } from '../../dist/src/index.js';

const path = `/dev/shm/sivshm-bench-map-${process.pid}`;
const sizes = [4096, 1 << 20, 64 << 20];
const fd = createRegionFile(path, sizes[sizes.length - 1]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  for (const size of sizes) {
    const byPath = [];
    const byFd = [];
    const touch = [];
    const populated = [];
    const touchPopulated = [];
    const rounds = size >= 64 << 20 ? 30 : 300;
    for (let i = 0; i < rounds; i++) {
      let t = process.hrtime.bigint();
      const a = mapFile(path, 0, size, { writable: true });
      byPath.push(Number(process.hrtime.bigint() - t));
      unmap(a.handle);
      t = process.hrtime.bigint();
      const b = mapFile(fd, 0, size, { writable: true });
      byFd.push(Number(process.hrtime.bigint() - t));
      const u8 = new Uint8Array(b.bulk);
      t = process.hrtime.bigint();
      for (let off = 0; off < size; off += 4096) u8[off] = 1;
      touch.push(Number(process.hrtime.bigint() - t));
      unmap(b.handle);
      t = process.hrtime.bigint();
      const c = mapFile(fd, 0, size, { writable: true, populate: true });
      populated.push(Number(process.hrtime.bigint() - t));
      const c8 = new Uint8Array(c.bulk);
      t = process.hrtime.bigint();
      for (let off = 0; off < size; off += 4096) c8[off] = 1;
      touchPopulated.push(Number(process.hrtime.bigint() - t));
      unmap(c.handle);
    }
    const kib = size / 1024;
    console.log(
      `${String(kib).padStart(6)} KiB: mapFile(path) ${(median(byPath) / 1000).toFixed(1)} µs, ` +
        `mapFile(fd) ${(median(byFd) / 1000).toFixed(1)} µs, ` +
        `first touch of all pages ${(median(touch) / 1000).toFixed(1)} µs; ` +
        `populate: mapFile ${(median(populated) / 1000).toFixed(1)} µs, ` +
        `touch ${(median(touchPopulated) / 1000).toFixed(1)} µs (median of ${rounds})`,
    );
  }
} finally {
  closeFd(fd);
  unlinkSync(path);
}
