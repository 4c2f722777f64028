// `sivshm call` at work: checks the request against the method's type, then calls it as the
// diagnostics VM and prints the answer. Loaded by the command's action only (commands/call.ts).
import { openDiagSession, memberOf, type DiagOptions } from '../diag/diag-session.js';
import { loadDiagConfig, memberName, protoType, serviceNamed } from '../diag/diagnostics-vm.js';
import { messageFromJson, messageToJson } from '../diag/json-message.js';

export type CallRunOptions = DiagOptions;

/** Calls `name` (`Service.method`) with the JSON request and prints the answer as a JSON line. */
export async function runCall(name: string, json: string, o: CallRunOptions): Promise<void> {
  const { service, member } = memberName(name, 'METHOD');
  const config = await loadDiagConfig(o.config);
  const definition = serviceNamed(config, service);
  const method = memberOf(definition.methods, member, 'method', definition);
  // Checked before connecting: a mistake in the request costs no handshake.
  const request = messageFromJson(
    protoType(config, method.request),
    json,
    `the request of ${name} (${method.request})`,
  );
  const session = await openDiagSession(config, definition, o);
  try {
    const answer = await session.service.call<object, object>(member, request, {
      timeoutMs: o.timeout,
    });
    process.stdout.write(
      `${JSON.stringify(messageToJson(protoType(config, method.response), answer))}\n`,
    );
  } finally {
    await session.close();
  }
}
