import type { Command } from 'commander';

/** Registers the `sivshm config` commands. */
export function registerConfigCommands(program: Command): void {
  void program;
}
