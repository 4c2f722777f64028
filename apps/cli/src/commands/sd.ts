import type { Command } from 'commander';

/** Registers the `sivshm sd` commands. */
export function registerSdCommands(program: Command): void {
  void program;
}
