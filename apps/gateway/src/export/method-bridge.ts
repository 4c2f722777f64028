import { SOMEIP_PROTOCOL_VERSION } from '@sivshm/abi';
import type { MethodDefinition, ServiceConfig, ServiceDefinition } from '@sivshm/core';
import { RuntimeError, type ConsumedService } from '@sivshm/runtime';
import type { GatewayCounters } from '../edge/gateway-counters.js';
import type { PeerBudgets } from '../edge/peer-budget.js';
import {
  MessageType,
  ReturnCode,
  isMagicCookie,
  replyTo,
  type SomeIpMessage,
} from '../someip/someip-message.js';
import { codecOf, type MessageCodec } from './message-codec.js';

interface BridgedMethod {
  readonly definition: MethodDefinition;
  readonly request: MessageCodec;
  readonly response: MessageCodec;
}

/** Where a request came from (budgets are per address) and how its reply goes back. */
export interface ReplySink {
  readonly address: string;
  send(bytes: Uint8Array): void;
}

/**
 * SOME/IP requests from the network → calls over sivshm → SOME/IP responses. A request's
 * payload is decoded as the method's protobuf request type before anything reaches the
 * providing VM; bytes that do not decode are answered with E_MALFORMED_MESSAGE and never sent
 * on. Header checks follow PRS_SOMEIP: a wrong protocol or interface version, an unknown
 * service or method is answered with its return code (requests only; fire-and-forget requests
 * get no answer, PRS_SOMEIP_00171).
 */
export class MethodBridge {
  private readonly methods = new Map<number, BridgedMethod>();

  constructor(
    config: ServiceConfig,
    private readonly service: ServiceDefinition,
    private readonly consumed: () => ConsumedService | undefined,
    private readonly counters: GatewayCounters,
    private readonly budgets: PeerBudgets,
    private readonly callTimeoutMs: number,
  ) {
    for (const m of service.methods)
      this.methods.set(m.id, {
        definition: m,
        request: codecOf(config, m.request),
        response: codecOf(config, m.response),
      });
  }

  /** One message from the network that passed the framing and budget checks. */
  handle(m: SomeIpMessage, from: ReplySink): void {
    if (isMagicCookie(m)) return; // resynchronisation marks, neither requests nor refusals
    const withReturn = m.messageType === MessageType.request;
    if (!withReturn && m.messageType !== MessageType.requestNoReturn) {
      // Responses, notifications and errors are not for an exported service: nothing to answer.
      this.counters.refused += 1;
      return;
    }
    this.counters.requests += 1;
    const refusal = this.headerRefusal(m);
    if (refusal !== undefined) {
      this.counters.refused += 1;
      if (withReturn) this.reply(from, replyTo(m, refusal));
      return;
    }
    const method = this.methods.get(m.methodId)!;
    let request: object;
    try {
      request = method.request.decode(m.payload);
    } catch {
      this.counters.undecodable += 1;
      if (withReturn) this.reply(from, replyTo(m, ReturnCode.malformedMessage));
      return;
    }
    if (!this.budgets.startCall(from.address)) {
      this.counters.overBudget += 1;
      return;
    }
    void this.call(method, request, m, from, withReturn).finally(() =>
      this.budgets.endCall(from.address),
    );
  }

  private headerRefusal(m: SomeIpMessage): number | undefined {
    if (m.protocolVersion !== SOMEIP_PROTOCOL_VERSION) return ReturnCode.wrongProtocolVersion;
    if (m.serviceId !== this.service.id) return ReturnCode.unknownService;
    if (!this.methods.has(m.methodId)) return ReturnCode.unknownMethod;
    if (m.interfaceVersion !== this.service.major) return ReturnCode.wrongInterfaceVersion;
    if (m.returnCode !== ReturnCode.ok) return ReturnCode.malformedMessage;
    return undefined;
  }

  private async call(
    method: BridgedMethod,
    request: object,
    m: SomeIpMessage,
    from: ReplySink,
    withReturn: boolean,
  ): Promise<void> {
    const consumed = this.consumed();
    if (consumed === undefined) {
      if (withReturn) this.reply(from, replyTo(m, ReturnCode.notReady));
      return;
    }
    try {
      const response = await consumed.call<object, object>(method.definition.name, request, {
        timeoutMs: this.callTimeoutMs,
      });
      if (withReturn)
        this.reply(from, replyTo(m, ReturnCode.ok, method.response.encode(response).finish()));
    } catch (e) {
      if (withReturn) this.reply(from, replyTo(m, returnCodeOf(e)));
    }
  }

  private reply(to: ReplySink, bytes: Uint8Array): void {
    this.counters.replies += 1;
    to.send(bytes);
  }
}

/** The SOME/IP return code for a failed sivshm call. */
function returnCodeOf(e: unknown): number {
  if (!(e instanceof RuntimeError)) return ReturnCode.notOk;
  switch (e.code) {
    case 'ERR_TIMEOUT':
      return ReturnCode.timeout;
    case 'ERR_PEER_GONE':
    case 'ERR_HOSTD_GONE':
    case 'ERR_NOT_OFFERED':
      return ReturnCode.notReachable;
    case 'ERR_BUSY':
    case 'ERR_CLOSED':
      return ReturnCode.notReady;
    default:
      return ReturnCode.notOk;
  }
}
