import { fstatSync } from 'node:fs';

/**
 * Watches the size of the region file hostd mapped. Someone with write access to the file
 * (`truncate -s 4096`) would make every later access past the new end a SIGBUS, which kills
 * hostd outright: Node cannot catch it. So hostd looks before it touches the mapping — on
 * every tick and before the work that writes the channel table or reads the rings — and, when
 * the file shrank, stops using what it had and recovers (hostd.ts). A truncation between the
 * look and the access can still fault; docs/security.md says what remains.
 */
export class RegionSizeGuard {
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** The file's size now, or -1 when it cannot be read (the fd is closed). */
  actualSize(): number {
    try {
      return fstatSync(this.fd).size;
    } catch {
      return -1;
    }
  }

  /** True while the file is at least as large as the mapping. */
  intact(): boolean {
    return this.actualSize() >= this.size;
  }
}
