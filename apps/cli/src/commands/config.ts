import type { Command } from 'commander';
import {
  configLocationOf,
  CoreError,
  formatConfigIssue,
  isConfigError,
  loadConfig,
  resolveGrantKey,
} from '@sivshm/core';
import type { ConfigIssue, ServiceConfig } from '@sivshm/core';

/** What `sivshm config check` found, as printed with `--json`. */
type CheckReport =
  | { ok: true; file: string; summary: ConfigSummary }
  | { ok: false; file: string; issues: readonly ConfigIssue[] }
  | { ok: false; file: string; error: { code: string; message: string } };

interface ConfigSummary {
  vms: number;
  services: number;
  instances: number;
  eventgroups: number;
  events: number;
  methods: number;
  protos: number;
  regionSize: number;
  regionPath: string;
  channelCapacity: number;
  keysChecked: boolean;
}

/** Registers the `sivshm config` commands. */
export function registerConfigCommands(program: Command): void {
  const config = program
    .command('config')
    .description('work with services.yaml (VMs, services, policy, region)');

  config
    .command('check')
    .description(
      'validate a services.yaml and the .proto files it lists: exit 0 with a summary, or ' +
        'exit 1 with one `file:line:col: path: message` line per problem on stderr',
    )
    .argument('<file>', 'the services.yaml to check')
    .option('--json', 'print the result as one JSON object on stdout')
    .option('--keys', "also read every VM's grant key (files, and env vars from this shell)")
    .action(async (file: string, opts: { json?: boolean; keys?: boolean }) => {
      let report: CheckReport;
      try {
        report = await check(file, opts.keys === true);
      } catch (e) {
        // Without --json a file that cannot be read at all is the CLI's one error line.
        if (opts.json !== true || !CoreError.is(e)) throw e;
        report = { ok: false, file, error: { code: e.code, message: e.message } };
      }
      print(report, opts.json === true);
      process.exitCode = report.ok ? 0 : 1;
    });
}

async function check(file: string, keys: boolean): Promise<CheckReport> {
  let config: ServiceConfig;
  try {
    config = await loadConfig(file);
  } catch (e) {
    if (isConfigError(e)) return { ok: false, file, issues: e.issues };
    throw e;
  }
  if (keys) {
    const issues = await keyIssues(config);
    if (issues.length > 0) return { ok: false, file, issues };
  }
  return { ok: true, file, summary: summarize(config, keys) };
}

/** Reads every grant key and reports failures at the VM's grantKey line. */
async function keyIssues(config: ServiceConfig): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  for (const vm of config.vms) {
    try {
      await resolveGrantKey(vm, { env: process.env });
    } catch (e) {
      if (!CoreError.is(e)) throw e;
      const at = configLocationOf(vm.grantKey) ?? configLocationOf(vm);
      issues.push({
        file: config.file,
        line: at?.line ?? 1,
        column: at?.column ?? 1,
        path: at?.path ?? `vms[${config.vms.indexOf(vm)}].grantKey`,
        // The location already names the VM; keep the reason.
        message: e.message.replace(/^grant key of vm '[^']*'(?: \([^)]*\))?: /, ''),
      });
    }
  }
  return issues;
}

function summarize(config: ServiceConfig, keysChecked: boolean): ConfigSummary {
  const groups = config.services.flatMap((s) => s.eventgroups);
  return {
    vms: config.vms.length,
    services: config.services.length,
    instances: config.services.reduce((n, s) => n + s.instances.length, 0),
    eventgroups: groups.length,
    events: groups.reduce((n, g) => n + g.events.length, 0),
    methods: config.services.reduce((n, s) => n + s.methods.length, 0),
    protos: config.protos.length,
    regionSize: config.region.size,
    regionPath: config.region.path,
    channelCapacity: config.region.channelCapacity,
    keysChecked,
  };
}

function print(report: CheckReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  if (report.ok) {
    const s = report.summary;
    const n = (count: number, one: string, many = `${one}s`) =>
      `${count} ${count === 1 ? one : many}`;
    process.stdout.write(
      `ok: ${n(s.vms, 'VM')}, ${n(s.services, 'service')}, ${n(s.instances, 'instance')}, ` +
        `${n(s.eventgroups, 'eventgroup')}, ${n(s.events, 'event')}, ${n(s.methods, 'method')}, ` +
        `${n(s.protos, '.proto file')}; region ${mib(s.regionSize)} at ${s.regionPath}, ` +
        `${s.channelCapacity} channels${s.keysChecked ? '; grant keys readable' : ''}\n`,
    );
    return;
  }
  if ('issues' in report) {
    // Diagnostics go to stderr in the form editors and CI annotate.
    process.stderr.write(report.issues.map((i) => `${formatConfigIssue(i)}\n`).join(''));
  }
}

function mib(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}
