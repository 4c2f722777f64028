// Who `sivshm call` and `sivshm echo` are: the VM services.yaml marks `diagnostics: true`, with
// its own grant key, certificate and rights. The checks here refuse early, in one line, what
// hostd would refuse anyway: the policy is services.yaml's consumers lists, enforced by hostd's
// broker against the certificate it issued; nothing here widens it.
import type protobuf from 'protobufjs';
import {
  loadConfig,
  type ServiceConfig,
  type ServiceDefinition,
  type VmConfig,
} from '@sivshm/core';
import { CliError } from '../errors/cli-error.js';

/** `Service.member`, split; a usage error naming the shape otherwise. */
export function memberName(
  text: string,
  kind: 'METHOD' | 'EVENT',
): { service: string; member: string } {
  const m = /^([A-Za-z_][\w]*)\.([A-Za-z_][\w]*)$/.exec(text);
  if (m === null) {
    throw new CliError(
      'ERR_USAGE',
      `"${text}" is not SERVICE.${kind}; write it as services.yaml names them, e.g. VehicleSpeed.${kind === 'METHOD' ? 'reset' : 'speed'}`,
    );
  }
  return { service: m[1]!, member: m[2]! };
}

/** Loads services.yaml; its own errors already say file:line. */
export async function loadDiagConfig(file: string): Promise<ServiceConfig> {
  try {
    return await loadConfig(file);
  } catch (e) {
    throw new CliError('ERR_INPUT', (e as Error).message, { cause: e });
  }
}

/** The diagnostics VM: the one marked, or `--vm`, which must be marked too. */
export function diagnosticsVm(config: ServiceConfig, name: string | undefined): VmConfig {
  const marked = config.vms.filter((v) => v.diagnostics === true);
  if (name !== undefined) {
    const vm = config.vms.find((v) => v.name === name);
    if (vm === undefined) {
      throw new CliError(
        'ERR_USAGE',
        `${config.file} has no VM named '${name}'; diagnostics VMs there: ${marked.map((v) => v.name).join(', ') || '(none)'}`,
      );
    }
    if (vm.diagnostics !== true) {
      throw new CliError(
        'ERR_REFUSED',
        `VM '${name}' is not marked diagnostics: true in ${config.file}; the shell tools act only as a diagnostics VM, never as an app's VM`,
      );
    }
    return vm;
  }
  if (marked.length === 1) return marked[0]!;
  if (marked.length === 0) {
    throw new CliError(
      'ERR_INPUT',
      `${config.file} marks no VM diagnostics: true; add one (its own id, name and grantKey, diagnostics: true) and list it in the consumers of the services it may use`,
    );
  }
  throw new CliError(
    'ERR_USAGE',
    `${config.file} marks several diagnostics VMs (${marked.map((v) => v.name).join(', ')}); pick one with --vm`,
  );
}

/** The service called `name`, or a usage error listing those there are. */
export function serviceNamed(config: ServiceConfig, name: string): ServiceDefinition {
  const s = config.services.find((x) => x.name === name);
  if (s === undefined) {
    throw new CliError(
      'ERR_USAGE',
      `${config.file} has no service '${name}'; its services: ${config.services.map((x) => x.name).join(', ') || '(none)'}`,
    );
  }
  return s;
}

/**
 * Refuses a service the diagnostics VM may not consume, naming the policy. hostd would refuse
 * the handshake too (its broker checks the certificate's rights, which come from the same
 * lists); refusing here says why at once instead of after a timeout.
 */
export function assertDiagMayConsume(
  config: ServiceConfig,
  vm: VmConfig,
  service: ServiceDefinition,
): void {
  if (service.consumers.includes(vm.name)) return;
  throw new CliError(
    'ERR_REFUSED',
    `policy: ${config.file} does not let the diagnostics VM '${vm.name}' consume '${service.name}' (its consumers: ${service.consumers.join(', ') || 'none'}); add '${vm.name}' to them to allow it`,
  );
}

/** `--instance`, or the service's only instance; a usage error otherwise. */
export function instanceOf(service: ServiceDefinition, given: number | undefined): number {
  if (given !== undefined) {
    if (!service.instances.includes(given)) {
      throw new CliError(
        'ERR_USAGE',
        `service '${service.name}' has no instance ${given}; services.yaml lists ${service.instances.join(', ')}`,
      );
    }
    return given;
  }
  if (service.instances.length === 1) return service.instances[0]!;
  throw new CliError(
    'ERR_USAGE',
    `service '${service.name}' has instances ${service.instances.join(', ')}; pick one with --instance`,
  );
}

/** A protobuf type the config's protos define (the config loader already checked it exists). */
export function protoType(config: ServiceConfig, name: string): protobuf.Type {
  return config.protoRoot.lookupType(name);
}
