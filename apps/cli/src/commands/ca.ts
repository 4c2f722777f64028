import type { Command } from 'commander';

/** Registers the `sivshm ca` commands. */
export function registerCaCommands(program: Command): void {
  void program;
}
