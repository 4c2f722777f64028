import { ContainerModule, type ServiceIdentifier } from 'inversify';
import type { Node, NodeOpenOptions } from '../node/node.js';
import type { ConsumedService, ConsumeOptions } from '../service/consumed-service.js';
import type { OfferedService, OfferOptions } from '../service/offered-service.js';
import { RuntimeError } from '../errors/runtime-error.js';
import { LazyNode } from './lazy-node.js';

/** The tokens {@link sivshmNodeModule} binds unless told others. */
export const SivshmTokens = {
  /** The VM's one `Node` (opened on first resolution, closed when the module is unloaded). */
  Node: Symbol.for('sivshm.runtime.Node') as ServiceIdentifier<Node>,
} as const;

/** The token of consumed service `service` instance `instance` (one per pair, across copies). */
export function consumedServiceToken(
  service: string,
  instance: number,
): ServiceIdentifier<ConsumedService> {
  return Symbol.for(`sivshm.runtime.consumed:${service}/${instance}`);
}

/** The token of offered service `service` instance `instance`. */
export function offeredServiceToken(
  service: string,
  instance: number,
): ServiceIdentifier<OfferedService> {
  return Symbol.for(`sivshm.runtime.offered:${service}/${instance}`);
}

/** A service to consume and the token it is bound to. */
export interface ConsumeBinding {
  readonly service: string;
  readonly options: ConsumeOptions;
  /** Default `consumedServiceToken(service, options.instance)`. */
  readonly token?: ServiceIdentifier<ConsumedService>;
}

/** A service to offer and the token it is bound to. */
export interface OfferBinding {
  readonly service: string;
  readonly options: OfferOptions;
  /** Default `offeredServiceToken(service, options.instance)`. */
  readonly token?: ServiceIdentifier<OfferedService>;
}

/** What {@link sivshmNodeModule} opens and binds. */
export interface SivshmNodeModuleOptions extends NodeOpenOptions {
  readonly consume?: readonly ConsumeBinding[];
  readonly offer?: readonly OfferBinding[];
  /** Default {@link SivshmTokens.Node}. */
  readonly nodeToken?: ServiceIdentifier<Node>;
}

/**
 * The app side of sivshm as an inversify module, for a host container that composes it with its
 * own modules: binds the VM's `Node` and each consumed and offered service to a token. Each
 * resolves asynchronously (`container.getAsync`, or a dependent's `toResolvedValue` with the
 * token as a dependency) to one object per container: the node opens on first use, a service is
 * consumed or offered when first asked for, and a failure (hostd not there, a refusal) rejects
 * that resolution with the runtime's typed error and is tried again on the next. Unloading the
 * module (or `unbindAll`) closes the node, which withdraws its offers and closes its consumed
 * services.
 *
 * @example
 * ```ts
 * import { Container, ContainerModule } from 'inversify';
 * const speed = consumedServiceToken('VehicleSpeed', 1);
 * const sivshm = sivshmNodeModule({
 *   config: 'services.yaml',
 *   vm: 'cluster',
 *   runDir: '/run/sivshm',
 *   consume: [{ service: 'VehicleSpeed', options: { instance: 1 } }],
 * });
 * class Dashboard {
 *   constructor(readonly speed: ConsumedService) {}
 * }
 * const app = new ContainerModule(({ bind }) => {
 *   bind(Dashboard).toResolvedValue((s: ConsumedService) => new Dashboard(s), [speed]);
 * });
 * const container = new Container();
 * await container.load(sivshm, app);
 * const dashboard = await container.getAsync(Dashboard);
 * await container.unload(app, sivshm); // closes the node
 * ```
 */
export function sivshmNodeModule(options: SivshmNodeModuleOptions): ContainerModule {
  checkModuleOptions(options);
  const { consume = [], offer = [], nodeToken = SivshmTokens.Node, ...open } = options;
  // One per module instance: the container's singleton whose deactivation closes the node.
  const lazyToken: ServiceIdentifier<LazyNode> = Symbol('sivshm.runtime.LazyNode');
  return new ContainerModule(({ bind }) => {
    bind<LazyNode>(lazyToken)
      .toDynamicValue(() => new LazyNode(open))
      .inSingletonScope()
      .onDeactivation((lazy: LazyNode) => lazy.close());
    // Transient over the lazy node's own once(): a failure is retried on the next resolution.
    bind(nodeToken).toResolvedValue((lazy: LazyNode) => lazy.node(), [lazyToken]);
    for (const c of consume) {
      const token = c.token ?? consumedServiceToken(c.service, c.options.instance);
      bind(token).toResolvedValue(
        (lazy: LazyNode) => lazy.once(token, (node) => node.consume(c.service, c.options)),
        [lazyToken],
      );
    }
    for (const o of offer) {
      const token = o.token ?? offeredServiceToken(o.service, o.options.instance);
      bind(token).toResolvedValue(
        (lazy: LazyNode) => lazy.once(token, (node) => node.offer(o.service, o.options)),
        [lazyToken],
      );
    }
  });
}

/**
 * The shape of the module's options, checked when the module is made: a mistake here would
 * otherwise be a TypeError from inside the container's load, or an ambiguous binding found only
 * when the service is first asked for. What needs the config (a service name, an instance,
 * a mode) is checked by `Node.open`/`consume`/`offer` when the token is resolved.
 */
function checkModuleOptions(options: SivshmNodeModuleOptions): void {
  const bad = (what: string): never => {
    throw new RuntimeError('ERR_BAD_ARGUMENT', `sivshmNodeModule: ${what}`);
  };
  if (typeof options !== 'object' || options === null) {
    bad('needs { config, vm, runDir } and optionally consume/offer lists');
  }
  const tokens = new Set<unknown>([options.nodeToken ?? SivshmTokens.Node]);
  for (const kind of ['consume', 'offer'] as const) {
    const list = options[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) bad(`${kind} must be a list of { service, options: { instance } }`);
    (list as ReadonlyArray<ConsumeBinding | OfferBinding>).forEach((b, i) => {
      const at = `${kind}[${i}]`;
      if (typeof b?.service !== 'string' || b.service === '') {
        bad(`${at}.service must be a service name of services.yaml`);
      }
      if (typeof b.options !== 'object' || b.options === null) {
        bad(`${at}.options must be given, with the instance to ${kind}`);
      }
      if (!Number.isInteger(b.options.instance)) {
        bad(`${at}.options.instance must be a whole number, got ${String(b.options.instance)}`);
      }
      const token =
        b.token ??
        (kind === 'consume'
          ? consumedServiceToken(b.service, b.options.instance)
          : offeredServiceToken(b.service, b.options.instance));
      if (tokens.has(token)) {
        bad(
          `${at}: ${b.service} instance ${b.options.instance} is bound twice (give one entry, or distinct tokens)`,
        );
      }
      tokens.add(token);
    });
  }
}
