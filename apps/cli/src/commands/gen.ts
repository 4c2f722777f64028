import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { formatConfigIssue, isConfigError, loadConfig } from '@sivshm/core';
import { CliError } from '../errors/cli-error.js';

/**
 * Registers `sivshm gen`: TypeScript message types and typed service handles for the services
 * of a services.yaml, from its .proto files. The generator is loaded only when the command runs.
 */
export function registerGenCommand(program: Command): void {
  program
    .command('gen')
    .description(
      'generate TypeScript from services.yaml and its .proto files: message interfaces and typed consume<Service>/offer<Service> handles',
    )
    .requiredOption('--config <file>', 'services.yaml')
    .requiredOption('--out <file>', 'the .ts file to write (e.g. src/sivshm-services.ts)')
    .addHelpText(
      'after',
      '\nExample:\n  sivshm gen --config services.yaml --out src/services.gen.ts\n' +
        '  then: const audio = await consumeAudioVolume(node, { instance: 1 });\n' +
        "        audio.event('volume') is an Observable<MediaVolume>",
    )
    .action(async (opts: { config: string; out: string }) => {
      const file = path.resolve(opts.config);
      let config;
      try {
        config = await loadConfig(file);
      } catch (e) {
        if (isConfigError(e)) {
          throw new CliError('ERR_INPUT', e.issues.map((i) => formatConfigIssue(i)).join('; '));
        }
        throw e;
      }
      const { typescriptFromConfig } = await import('../gen/typescript-from-config.js');
      const text = typescriptFromConfig(config, path.basename(file));
      await writeFile(path.resolve(opts.out), text);
      process.stdout.write(`wrote ${opts.out}\n`);
    });
}
