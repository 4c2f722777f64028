import { SOMEIP_PROTOCOL_VERSION } from '@sivshm/abi';
import type { GatewayImport, ServiceDefinition } from '@sivshm/core';
import { MessageType, isMagicCookie, type SomeIpMessage } from '../someip/someip-message.js';

/** An event of an imported eventgroup, as the sivshm offer publishes it. */
export interface ImportedEvent {
  readonly name: string;
  readonly id: number;
}

/** What one SOME/IP message from the network provider of an imported service is. */
export type Inbound =
  /**
   * A notification of a subscribed event; its payload is still to be checked: it goes to the VMs
   * only through `ServicePublisher.publishBytes`, which refuses bytes that do not decode as the
   * event's type (counted as `undecodable` by the import).
   */
  | { readonly kind: 'event'; readonly event: ImportedEvent; readonly payload: Uint8Array }
  /** A response or error to one of the gateway's requests (matched by its request id). */
  | { readonly kind: 'answer'; readonly message: SomeIpMessage }
  /** Not for this import (wrong header, type, id or version): counted as `refused`. */
  | { readonly kind: 'refused' }
  /** A Magic Cookie (a TCP resynchronisation mark): skipped, not counted. */
  | { readonly kind: 'magicCookie' };

/**
 * The gate between the network provider of an imported service and the VMs: a notification
 * reaches the sivshm offer only when its header names a subscribed event of the service with
 * the right protocol and interface version; its payload bytes then pass only through
 * `publishBytes`, which checks they decode as the event's protobuf type, so bytes that are not
 * never reach a VM. Answers go on only when they name one of the service's methods; their
 * payload is decoded by the call that waits for them.
 */
export class InboundFilter {
  private readonly events = new Map<number, ImportedEvent>();
  private readonly methodIds: ReadonlySet<number>;

  constructor(
    private readonly service: ServiceDefinition,
    imp: GatewayImport,
  ) {
    for (const group of service.eventgroups) {
      if (!imp.eventgroups.includes(group.id)) continue;
      for (const e of group.events) this.events.set(e.id, { name: e.name, id: e.id });
    }
    this.methodIds = new Set(service.methods.map((m) => m.id));
  }

  /** The events whose notifications are taken (those of the imported eventgroups). */
  get subscribedEvents(): readonly ImportedEvent[] {
    return [...this.events.values()];
  }

  classify(m: SomeIpMessage): Inbound {
    if (isMagicCookie(m)) return { kind: 'magicCookie' };
    if (
      m.protocolVersion !== SOMEIP_PROTOCOL_VERSION ||
      m.serviceId !== this.service.id ||
      m.interfaceVersion !== this.service.major
    )
      return { kind: 'refused' };
    if (m.messageType === MessageType.notification) {
      const event = this.events.get(m.methodId);
      if (event === undefined || m.clientId !== 0 || m.returnCode !== 0) return { kind: 'refused' };
      return { kind: 'event', event, payload: m.payload };
    }
    if (m.messageType === MessageType.response || m.messageType === MessageType.error)
      return this.methodIds.has(m.methodId) ? { kind: 'answer', message: m } : { kind: 'refused' };
    return { kind: 'refused' };
  }
}
