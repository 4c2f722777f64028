import type protobuf from 'protobufjs';
import type {
  EventDefinition,
  MethodDefinition,
  ServiceConfig,
  ServiceDefinition,
} from '@sivshm/core';
import { RuntimeError } from '../errors/runtime-error.js';
import { payloadChecker } from './payload-check.js';

/** An event of a service with its payload type resolved. */
export interface ResolvedEvent {
  readonly definition: EventDefinition;
  readonly eventgroupId: number;
  readonly type: protobuf.Type;
  /** Throws `ERR_BAD_PAYLOAD` for a message that does not fit `type` (payload-check.ts). */
  readonly check: (payload: unknown) => void;
}

/** A method of a service with its request and response types resolved. */
export interface ResolvedMethod {
  readonly definition: MethodDefinition;
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
  /** Throw `ERR_BAD_PAYLOAD` for a request or response that does not fit its type. */
  readonly checkRequest: (payload: unknown) => void;
  readonly checkResponse: (payload: unknown) => void;
}

/**
 * A service of services.yaml with its names resolved to ids and protobuf types, so the API can
 * speak names (`'speed'`, `'reset'`) and the wire ids.
 */
export class ServiceCatalog {
  readonly #events = new Map<string, ResolvedEvent>();
  readonly #methods = new Map<string, ResolvedMethod>();

  private constructor(readonly definition: ServiceDefinition) {}

  /** Looks up service `name` in `config`; throws `ERR_CONFIG` naming the services there are. */
  static of(config: ServiceConfig, name: string): ServiceCatalog {
    const def = config.services.find((s) => s.name === name);
    if (def === undefined) {
      throw new RuntimeError(
        'ERR_CONFIG',
        `${config.file}: no service named '${name}'; services there: ${config.services.map((s) => s.name).join(', ') || '(none)'}`,
      );
    }
    const c = new ServiceCatalog(def);
    const lookup = (type: string, what: string): protobuf.Type => {
      try {
        return config.protoRoot.lookupType(type);
      } catch (e) {
        throw new RuntimeError(
          'ERR_CONFIG',
          `${config.file}: ${what} of service '${name}' names type ${type}, which none of the protos defines`,
          { cause: e },
        );
      }
    };
    for (const g of def.eventgroups) {
      for (const e of g.events) {
        const type = lookup(e.type, `event '${e.name}'`);
        const check = payloadChecker(type, `event '${e.name}' of '${name}'`);
        c.#events.set(e.name, { definition: e, eventgroupId: g.id, type, check });
      }
    }
    for (const m of def.methods) {
      const request = lookup(m.request, `method '${m.name}'`);
      const response = lookup(m.response, `method '${m.name}'`);
      c.#methods.set(m.name, {
        definition: m,
        request,
        response,
        checkRequest: payloadChecker(request, `request of '${m.name}' on '${name}'`),
        checkResponse: payloadChecker(response, `response of '${m.name}' on '${name}'`),
      });
    }
    return c;
  }

  get name(): string {
    return this.definition.name;
  }

  /** The event called `name`; throws `ERR_BAD_ARGUMENT` listing the service's events. */
  event(name: string): ResolvedEvent {
    const e = this.#events.get(name);
    if (e === undefined) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `service '${this.name}' has no event '${name}'; its events: ${[...this.#events.keys()].join(', ') || '(none)'}`,
      );
    }
    return e;
  }

  /** The method called `name`; throws `ERR_BAD_ARGUMENT` listing the service's methods. */
  method(name: string): ResolvedMethod {
    const m = this.#methods.get(name);
    if (m === undefined) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `service '${this.name}' has no method '${name}'; its methods: ${[...this.#methods.keys()].join(', ') || '(none)'}`,
      );
    }
    return m;
  }

  /** Method names of the service. */
  get methodNames(): string[] {
    return [...this.#methods.keys()];
  }

  /** Eventgroup ids of the service. */
  get eventgroupIds(): number[] {
    return this.definition.eventgroups.map((g) => g.id);
  }

  /** Checks that `instance` is one the config lists for this service. */
  checkInstance(instance: number): void {
    if (!this.definition.instances.includes(instance)) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `service '${this.name}' has no instance ${instance}; services.yaml lists ${this.definition.instances.join(', ')}`,
      );
    }
  }
}
