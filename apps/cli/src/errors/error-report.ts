import { CommanderError } from 'commander';
import { SivshmError } from '@sivshm/core';
import { CliError } from './cli-error.js';
import { isSystemError, systemErrorText } from './fs-error-text.js';

/** What the command line prints for a failure, and the exit code it ends with. */
export interface ErrorReport {
  /** One line (no newline), or undefined when nothing is to be printed (help, --version). */
  readonly line: string | undefined;
  readonly exitCode: number;
}

/** Exit code of a command line that cannot be understood (commander's usage errors too). */
export const EXIT_USAGE = 2;
/** Exit code of every other failure. */
export const EXIT_FAILURE = 1;

/**
 * Node's system-error text inside a package's message (`…: ENOENT: no such file or directory,
 * open '/x'`) says the path twice and in errno words: keep the reason.
 */
const withoutErrnoText = (text: string): string =>
  text.replace(/\bE[A-Z0-9]+: ([^,]*), \w+ '[^']*'/g, '$1');

/** One line at most: a message that spans lines is joined (commander adds suggestions below). */
const oneLine = (text: string): string =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');

/**
 * The one mapping from a failure to what `sivshm` prints: `<command>: <message>` on stderr,
 * exit 2 for usage errors and 1 for the rest. Typed errors of every @sivshm package keep their
 * code in brackets (scripts match on it). An error nobody expected (a bug) gets one line too;
 * its stack is for `SIVSHM_DEBUG=1`, which the caller handles.
 *
 * `subcommands` lists what a command group offers, for a group given without one.
 */
export function reportError(e: unknown, command: string, subcommands: string[]): ErrorReport {
  if (e instanceof CommanderError) return commanderReport(e, command, subcommands);
  if (CliError.is(e)) {
    return {
      line: `${command}: ${oneLine(e.message)}`,
      exitCode: e.code === 'ERR_USAGE' ? EXIT_USAGE : EXIT_FAILURE,
    };
  }
  if (SivshmError.isSivshmError(e)) {
    const message = oneLine(withoutErrnoText(e.message));
    return { line: `${command}: ${message} [${e.code}]`, exitCode: EXIT_FAILURE };
  }
  if (isSystemError(e)) {
    return { line: `${command}: ${oneLine(systemErrorText(e))}`, exitCode: EXIT_FAILURE };
  }
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return {
    line: `${command}: internal error: ${oneLine(message)} (SIVSHM_DEBUG=1 prints where)`,
    exitCode: EXIT_FAILURE,
  };
}

function commanderReport(e: CommanderError, command: string, subcommands: string[]): ErrorReport {
  const helpAsked = e.code === 'commander.help' && e.exitCode === 0;
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || helpAsked) {
    return { line: undefined, exitCode: 0 };
  }
  if (e.code === 'commander.help') {
    // A command group given without one of its commands (commander would print the help).
    return {
      line: `${command}: name a command: ${subcommands.join(', ')} (\`${command} --help\` explains them)`,
      exitCode: EXIT_USAGE,
    };
  }
  const message = oneLine(e.message.replace(/^error: /, ''));
  return { line: `${command}: ${message} (see \`${command} --help\`)`, exitCode: EXIT_USAGE };
}
