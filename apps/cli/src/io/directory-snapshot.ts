import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The regular files of one directory as they were, to put back if a command fails halfway. */
export interface DirectorySnapshot {
  readonly dir: string;
  readonly files: ReadonlyMap<string, { readonly data: Buffer; readonly mode: number }>;
}

/** Reads every regular file directly in `dir` (a CA directory holds a handful of small ones). */
export function snapshotDirectory(dir: string): DirectorySnapshot {
  const files = new Map<string, { data: Buffer; mode: number }>();
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const st = statSync(file);
    if (st.isFile()) files.set(name, { data: readFileSync(file), mode: st.mode & 0o777 });
  }
  return { dir, files };
}

/**
 * Puts back every file whose content changed since `snap` and removes the temporary files this
 * process left (`*.tmp-<pid>`), so that a failed command leaves the directory as it found it —
 * a CA's state file included: no serial is used up by a command that did not deliver.
 * Best effort: it runs on a failure path and must not hide the first error.
 */
export function restoreDirectory(snap: DirectorySnapshot): void {
  for (const [name, { data, mode }] of snap.files) {
    const file = path.join(snap.dir, name);
    try {
      if (readFileSync(file).equals(data)) continue;
    } catch {
      // Gone or unreadable: write it back.
    }
    const tmp = `${file}.restore-${process.pid}`;
    try {
      writeFileSync(tmp, data, { mode });
      renameSync(tmp, file);
    } catch {
      rmSync(tmp, { force: true });
    }
  }
  try {
    for (const name of readdirSync(snap.dir)) {
      if (name.endsWith(`.tmp-${process.pid}`)) rmSync(path.join(snap.dir, name), { force: true });
    }
  } catch {
    // The directory itself is gone: nothing left to tidy.
  }
}
