import type { Command } from 'commander';

/** Registers the `sivshm cert` commands. */
export function registerCertCommands(program: Command): void {
  void program;
}
