import { loadConfig, type GatewayConfig, type ServiceConfig } from '@sivshm/core';
import { SdAgent, UdpSdTransport, type SdTiming } from '@sivshm/discovery';
import { Node } from '@sivshm/runtime';
import { newCounters, type GatewayCounters } from './edge/gateway-counters.js';
import { PeerBudgets, type PeerBudgetLimits } from './edge/peer-budget.js';
import { GatewayError } from './errors/gateway-error.js';
import { exportPolicy } from './export/export-policy.js';
import { ServiceExport } from './export/service-export.js';
import { checkedGatewayLimits } from './gateway-limits.js';
import { ServiceImport } from './import/service-import.js';

/** How `Gateway.start` is run. */
export interface GatewayOptions {
  /** services.yaml (a path) or a loaded config; it must have a `gateway:` section. */
  readonly config: string | ServiceConfig;
  /** The gateway's own VM name in services.yaml (its certificate decides what it may consume). */
  readonly vm: string;
  /** hostd's run dir (emulated mode), as for `Node.open`. */
  readonly runDir?: string;
  /** qemu mode: the control port inside the guest, as for `Node.open`. */
  readonly controlPort?: string;
  /** SD timing overrides (tests shorten the phases). */
  readonly sdTiming?: Partial<SdTiming>;
  /**
   * Accept loopback endpoint options in Subscribes (SD-1233 says they are invalid; a test on
   * `lo` in a network namespace needs them).
   */
  readonly allowLoopbackEndpoints?: boolean;
  /** Per-peer bounds on the work the network may cause. */
  readonly peerBudget?: Partial<PeerBudgetLimits>;
  /** Bound of a method call forwarded over sivshm, ms (default 1000). */
  readonly callTimeoutMs?: number;
  /** Largest SOME/IP payload taken from the network, bytes (default 64 KiB). */
  readonly maxPayload?: number;
  /** Operator lines (default: stderr). */
  readonly log?: (line: string) => void;
}

/**
 * The SOME/IP gateway: a sivshm participant with its own VM identity that offers the services
 * listed under `gateway.export` on the vehicle network (SOME/IP-SD on UDP, events and methods
 * as SOME/IP over UDP and TCP), and offers the network services listed under `gateway.import`
 * inside sivshm as their provider. Nothing else crosses.
 */
export class Gateway {
  private constructor(
    readonly config: GatewayConfig,
    /** What the gateway did with network traffic, by reason. */
    readonly counters: GatewayCounters,
    private readonly node: Node,
    private readonly agent: SdAgent,
    private readonly exports: readonly ServiceExport[],
    private readonly imports: readonly ServiceImport[],
  ) {}

  /** Opens the VM's node, the SD socket and one UDP endpoint per exported service. */
  static async start(o: GatewayOptions): Promise<Gateway> {
    const limits = checkedGatewayLimits(o);
    const config = typeof o.config === 'string' ? await loadConfig(o.config) : o.config;
    const gw = checkGatewayConfig(config, o.vm);
    if (o.allowLoopbackEndpoints !== true && isLoopbackAddress(gw.unicast))
      // Checked here because the SD agent would refuse every Offer later, one by one.
      throw new GatewayError(
        'ERR_CONFIG',
        `gateway.unicast ${gw.unicast} is a loopback address, which may not be offered to SOME/IP peers (PRS SD-1233); give the address of the interface that faces the vehicle network`,
      );
    const log = o.log ?? ((line: string) => void process.stderr.write(`sivshm-gateway: ${line}\n`));
    const transport = await UdpSdTransport.open({
      unicast: gw.unicast,
      port: gw.sdPort,
      multicastGroup: gw.sdGroup,
    }).catch((e: unknown) => {
      throw new GatewayError(
        'ERR_NETWORK',
        `cannot open SOME/IP-SD on ${gw.unicast}:${gw.sdPort} (group ${gw.sdGroup}): ${(e as Error).message}`,
        { cause: e },
      );
    });
    const agent = new SdAgent({
      transport,
      policy: exportPolicy(config, gw),
      ...(o.sdTiming === undefined ? {} : { timing: o.sdTiming }),
      ...(o.allowLoopbackEndpoints === true ? { allowLoopbackEndpoints: true } : {}),
    });
    agent.errors$.subscribe((e) => log(`SD: ${e.message}`));
    let node: Node;
    try {
      node = await Node.open({
        config,
        vm: o.vm,
        ...(o.runDir === undefined ? {} : { runDir: o.runDir }),
        ...(o.controlPort === undefined ? {} : { controlPort: o.controlPort }),
      });
    } catch (e) {
      await agent.stop();
      throw e;
    }
    const counters = newCounters();
    const ctx = {
      config,
      node,
      agent,
      unicast: gw.unicast,
      counters,
      budgets: new PeerBudgets(limits.peerBudget),
      maxPayload: limits.maxPayload,
      callTimeoutMs: limits.callTimeoutMs,
      log,
    };
    const exports: ServiceExport[] = [];
    const imports: ServiceImport[] = [];
    try {
      for (const exp of gw.exports) exports.push(await ServiceExport.open(ctx, exp));
      // The gateway's SOME/IP client id on the network: its VM id, unique among the VMs.
      const clientId = config.vms.find((v) => v.name === o.vm)!.id;
      for (const imp of gw.imports)
        imports.push(await ServiceImport.open({ ...ctx, clientId }, imp));
    } catch (e) {
      await Promise.allSettled([...exports, ...imports].map((x) => x.close()));
      await agent.stop();
      await node.close();
      throw e;
    }
    return new Gateway(gw, counters, node, agent, exports, imports);
  }

  /** Whether imported instance `service`/`instance` is offered inside sivshm right now. */
  importOffered(service: string, instance: number): boolean {
    const i = this.config.imports.findIndex(
      (x) => x.service === service && x.instance === instance,
    );
    return this.imports[i]?.offering === true;
  }

  /**
   * StopOffer for every export, StopSubscribe and the sivshm offer withdrawn for every import,
   * then the sockets, the SD agent and the node close.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.exports, ...this.imports].map((x) => x.close()));
    await this.agent.stop();
    await this.node.close();
  }
}

/** The config's gateway section, checked against the VM that runs it. */
function checkGatewayConfig(config: ServiceConfig, vm: string): GatewayConfig {
  const gw = config.gateway;
  if (gw === undefined)
    throw new GatewayError(
      'ERR_CONFIG',
      `${config.file} has no gateway: section; add one with unicast and export (README "Reaching other ECUs")`,
    );
  if (!config.vms.some((v) => v.name === vm))
    throw new GatewayError('ERR_CONFIG', `${config.file} has no VM named '${vm}'`);
  for (const exp of gw.exports) {
    const s = config.services.find((x) => x.name === exp.service)!;
    if (!s.consumers.includes(vm))
      throw new GatewayError(
        'ERR_CONFIG',
        `gateway VM '${vm}' may not consume ${s.name}, which gateway.export lists; add it to ${s.name}'s consumers`,
      );
  }
  for (const imp of gw.imports) {
    const s = config.services.find((x) => x.name === imp.service)!;
    if (s.provider !== vm)
      throw new GatewayError(
        'ERR_CONFIG',
        `gateway VM '${vm}' may not offer ${s.name}, which gateway.import lists; make '${vm}' its provider`,
      );
  }
  return gw;
}

/** 127.0.0.0/8 and ::1 (also as an IPv4-mapped address). */
function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  return a.startsWith('127.') || a === '::1' || a === '0:0:0:0:0:0:0:1';
}
