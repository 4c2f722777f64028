import path from 'node:path';
import type { Command } from 'commander';
import { formatConfigIssue, isConfigError, loadConfig } from '@sivshm/core';
import { CliError } from '../errors/cli-error.js';
import { checkWritableFile, stageFile } from '../io/cli-files.js';

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
      const out = path.resolve(opts.out);
      // An --out that cannot be written is said before the protos are loaded, and the file is
      // staged beside its name: a failure never leaves a half-written .ts an app would compile.
      checkWritableFile(out, 'output file');
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
      const staged = stageFile(out, text, 'output file');
      try {
        staged.commit();
      } finally {
        staged.discard();
      }
      process.stdout.write(`wrote ${opts.out}\n`);
    });
}
