/**
 * Node's file-system and socket errors as words a person can act on: `ENOENT: no such file or
 * directory, open '/x'` becomes `cannot open /x: no such file or directory`.
 */

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'it already exists',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EBUSY: 'the resource is busy',
  EINVAL: 'invalid argument',
  ENXIO: 'no such device or address',
  ECONNREFUSED: 'nothing listens there (connection refused)',
  ECONNRESET: 'the connection was reset',
  ENOTSOCK: 'it is not a socket',
  EPIPE: 'the other end closed the connection',
};

const VERBS: Readonly<Record<string, string>> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create directory',
  rmdir: 'remove directory',
  unlink: 'remove',
  rename: 'rename',
  stat: 'find',
  lstat: 'find',
  scandir: 'list',
  access: 'use',
  chmod: 'change the mode of',
  connect: 'connect to',
  mmap: 'map',
};

/** A Node system error (it has an errno-style `code` and the `syscall` that failed). */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  return (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!) &&
    typeof (e as NodeJS.ErrnoException).syscall === 'string'
  );
}

/** Why the system call failed, in words (`no such file or directory`). */
export function systemErrorReason(e: NodeJS.ErrnoException): string {
  const known = e.code === undefined ? undefined : REASONS[e.code];
  if (known !== undefined) return known;
  // Node's own text is `CODE: reason, syscall 'path'`: keep the reason.
  return e.message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ '[^']*'.*$/, '');
}

/** One line for a system error: `cannot open /x: no such file or directory`. */
export function systemErrorText(e: NodeJS.ErrnoException): string {
  const verb = VERBS[e.syscall ?? ''] ?? e.syscall ?? 'use';
  const target = e.path ?? (e as { address?: string }).address;
  return `cannot ${verb}${target === undefined ? '' : ` ${target}`}: ${systemErrorReason(e)}`;
}
