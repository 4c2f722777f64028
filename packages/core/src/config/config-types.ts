/**
 * The typed, normalized form of services.yaml (see packages/core/README.md, "services.yaml
 * reference"). Every number is a plain integer (sizes in bytes), every path absolute, every VM
 * reference resolved to its id. Objects returned by `parseConfig`/`loadConfig` are frozen.
 */
import type { Root } from 'protobufjs';
import type { ChannelMode, PageGranule } from '@sivshm/abi';
import type { GatewayConfig } from './gateway-types.js';

/** Where a VM's grant key `K_vm` comes from (docs/protocol.md §9). */
export type GrantKeySource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'env'; readonly name: string }
  /** Inline key; for development only (anyone who reads the config holds the key). */
  | { readonly kind: 'hex'; readonly hex: string };

/** Per-VM admission limits the broker enforces (docs/architecture.md §5, docs/protocol.md §6). */
export interface VmLimits {
  /** Sustained rate of M1 REQUESTs the broker accepts from this VM (token bucket refill). */
  readonly handshakesPerSecond: number;
  /** Token bucket depth: requests accepted back to back before the rate applies. */
  readonly burst: number;
  /** Handshakes of this VM that may be PENDING at once. */
  readonly pendingHandshakes: number;
  /** Upper bound on the summed window lengths of the channels this VM takes part in, bytes. */
  readonly windowBytes: number;
  /**
   * SD entries per second hostd relays for this VM at least (absent: 200); hostd raises it to
   * what the VM's services need (`vmBudgets`, config/vm-load.ts).
   */
  readonly sdEntriesPerSecond?: number;
  /** SD entries the VM may send back to back at least (absent: 50); raised like the rate. */
  readonly sdBurst?: number;
}

/** One VM (or, in emulated mode, one process standing in for a VM). */
export interface VmConfig {
  /** `vm_id` u32 > 0, assigned by hostd from this config (docs/protocol.md §9). */
  readonly id: number;
  readonly name: string;
  readonly grantKey: GrantKeySource;
  readonly limits: VmLimits;
  /**
   * `diagnostics: true`: the VM the shell tools (`sivshm call`, `sivshm echo`) act as. Set only
   * when true; it grants nothing: the VM consumes what the services' `consumers` lists give it.
   */
  readonly diagnostics?: true;
  /**
   * Absolute path of the QMP socket of this VM's QEMU (`vms[].qmp`): hostd hot-plugs the
   * devices of `isolation: device` channels through it in qemu mode. Absent: none.
   */
  readonly qmp?: string;
}

/** The shared region (docs/architecture.md §4). */
export interface RegionConfig {
  /** Bytes; a power of two ≥ 1 MiB (QEMU requires a power-of-two BAR2). */
  readonly size: number;
  /** Emulated mode: absolute path of the region file. */
  readonly path: string;
  /** Entries in the channel table of the control section. */
  readonly channelCapacity: number;
  /**
   * The page granule every channel window is laid out for (`region.pageGranule`, default
   * 4096): at least the largest kernel page size of the VMs (16384 or 65536 for arm64 kernels
   * built so). 4096 is layout v1; larger granules are layout version 2 (docs/protocol.md).
   */
  readonly pageGranule: PageGranule;
}

/** An event (notification) of a service; its id has the top bit set (0x8000..0xFFFE). */
export interface EventDefinition {
  readonly id: number;
  readonly name: string;
  /** Fully qualified protobuf message type of the payload, without a leading dot. */
  readonly type: string;
}

/** A SOME/IP eventgroup: the unit a consumer subscribes to. */
export interface EventgroupDefinition {
  readonly id: number;
  readonly name: string;
  readonly events: readonly EventDefinition[];
}

/** A request/response method of a service (0x0001..0x7FFF). */
export interface MethodDefinition {
  readonly id: number;
  readonly name: string;
  /** Fully qualified protobuf message type of the request. */
  readonly request: string;
  /** Fully qualified protobuf message type of the response. */
  readonly response: string;
}

/** A service interface, the instances one VM provides and the VMs allowed to consume it. */
export interface ServiceDefinition {
  readonly name: string;
  /** SOME/IP service id, 0x0001..0xFFFE. */
  readonly id: number;
  /** Instance ids, 0x0001..0xFFFE each, ascending, unique. */
  readonly instances: readonly number[];
  /** Major interface version u8 (0xFF is the SD wildcard and is refused). */
  readonly major: number;
  /** Minor version u32 (0xFFFFFFFF is the SD wildcard and is refused). */
  readonly minor: number;
  /** Name of the providing VM. */
  readonly provider: string;
  /** `vm_id` of the providing VM. */
  readonly providerVmId: number;
  /** Names of the VMs allowed to consume, in config order. */
  readonly consumers: readonly string[];
  /** `vm_id`s of the VMs allowed to consume, same order as `consumers`. */
  readonly consumerVmIds: readonly number[];
  /** Weakest channel protection the provider accepts (docs/protocol.md §6). */
  readonly minMode: ChannelMode;
  readonly eventgroups: readonly EventgroupDefinition[];
  readonly methods: readonly MethodDefinition[];
  /**
   * Ring data area per direction of this service's channel windows, bytes (a power of two ≥
   * 4 KiB); absent: hostd's default (`channelDataSize`, 64 KiB). The window is
   * `WindowLayout.windowLength(ringDataSize)`.
   */
  readonly ringDataSize?: number;
  /**
   * A consumer closes a channel of this service that it has not used for this long, ms; its
   * window is zeroed and reclaimed, and the next use opens a new channel. Absent: never.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Where this service's channels live (docs/architecture.md): absent or `region`, a window of
   * the shared region every VM maps; `device`, memory of the channel's own that hostd hot-plugs
   * into the pair's two VMs only (emulated mode: a file only those two are told).
   */
  readonly isolation?: ServiceIsolation;
  /**
   * Bounds within which hostd may move a live channel of this service to a larger or smaller
   * window as its traffic changes (docs/protocol.md §11). Absent (or `elastic: false`): every
   * channel keeps the window of its handshake.
   */
  readonly elastic?: ElasticWindow;
}

/** `services[].elastic`: a channel's window follows its traffic within these bounds. */
export interface ElasticWindow {
  /** Smallest ring data area per direction, bytes (a power of two ≥ the page granule). */
  readonly minRingDataSize: number;
  /** Largest ring data area per direction, bytes. */
  readonly maxRingDataSize: number;
  /** A direction this full (percent of its data area), or refusing events, asks to grow. */
  readonly growAtPercent: number;
  /** Both directions at most this full ask to shrink. */
  readonly shrinkAtPercent: number;
  /** How long the grow condition must hold, ms. */
  readonly growAfterMs: number;
  /** How long the shrink condition must hold, ms. */
  readonly shrinkAfterMs: number;
  /** Bound of one move; past it both ends are torn down (docs/protocol.md §11.5), ms. */
  readonly moveTimeoutMs: number;
}

/** `services[].isolation`: the shared region (default) or a per-channel device. */
export type ServiceIsolation = 'region' | 'device';

/** A validated services.yaml. */
export interface ServiceConfig {
  readonly version: 1;
  /** The config file as named by the caller (used in messages). */
  readonly file: string;
  /** Absolute directory relative paths in the file were resolved against. */
  readonly baseDir: string;
  readonly region: RegionConfig;
  readonly vms: readonly VmConfig[];
  /** Absolute paths of the listed .proto files. */
  readonly protos: readonly string[];
  /** Every type of the listed .proto files (and their imports), resolved. */
  readonly protoRoot: Root;
  readonly services: readonly ServiceDefinition[];
  /** The SOME/IP gateway's section (absent: nothing is put on a network). */
  readonly gateway?: GatewayConfig;
}
