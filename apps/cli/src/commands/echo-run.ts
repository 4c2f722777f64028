// `sivshm echo` at work: subscribes to one event as the diagnostics VM and prints each as a JSON
// line. Loaded by the command's action only (commands/echo.ts).
import { RuntimeError } from '@sivshm/runtime';
import {
  openDiagSession,
  memberOf,
  type DiagOptions,
  type DiagSession,
} from '../diag/diag-session.js';
import { loadDiagConfig, memberName, protoType, serviceNamed } from '../diag/diagnostics-vm.js';
import { messageToJson } from '../diag/json-message.js';

export interface EchoRunOptions extends DiagOptions {
  readonly count?: number;
}

/** Prints events `name` (`Service.event`) until --count, Ctrl-C, SIGTERM or a closed stdout. */
export async function runEcho(name: string, o: EchoRunOptions): Promise<void> {
  const { service, member } = memberName(name, 'EVENT');
  const config = await loadDiagConfig(o.config);
  const definition = serviceNamed(config, service);
  const events = definition.eventgroups.flatMap((g) => g.events);
  const event = memberOf(events, member, 'event', definition);
  const type = protoType(config, event.type);
  const session = await openDiagSession(config, definition, o);
  try {
    await printEvents(session, member, o.count ?? Infinity, (value) =>
      JSON.stringify({
        time: new Date().toISOString(),
        event: name,
        value: messageToJson(type, value),
      }),
    );
  } finally {
    await session.close();
  }
}

/**
 * Subscribes to the event on each channel the service gets (a channel's stream ends with it)
 * and writes `line(value)` for each, until `count` or a signal; rejects on anything but the
 * provider going away, which is reported on stderr and waited out.
 */
function printEvents(
  session: DiagSession,
  member: string,
  count: number,
  line: (value: object) => string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let printed = 0;
    let stream: { closed: boolean; unsubscribe(): void } | undefined;
    const finish = (e?: unknown): void => {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      process.stdout.off('error', onStdoutError);
      stream?.unsubscribe();
      status.unsubscribe();
      if (e === undefined) resolve();
      else reject(e as Error);
    };
    const onSignal = (): void => finish();
    // `| head -3` closes the pipe: that is the reader saying it has enough, not a failure.
    const onStdoutError = (e: NodeJS.ErrnoException): void =>
      e.code === 'EPIPE' ? finish() : finish(e);
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    process.stdout.on('error', onStdoutError);
    const subscribe = (): void => {
      stream = session.service.event<object>(member).subscribe({
        next: (value) => {
          process.stdout.write(`${line(value)}\n`);
          if (++printed >= count) finish();
        },
        error: (e: unknown) => {
          if (RuntimeError.is(e) && e.code === 'ERR_PEER_GONE') {
            process.stderr.write(`the channel ended (${e.message}); waiting for the provider\n`);
          } else finish(e);
        },
      });
    };
    const status = session.service.status$.subscribe((s) => {
      if (s === 'connected' && (stream === undefined || stream.closed)) subscribe();
    });
  });
}
