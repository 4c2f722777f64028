// Real VM apps (the runtime's Node.open, each its own OS process) for the hostile-load cases
// that need a data plane: the infotainment provider (provider-app.ts), a consumer that never
// reads its replies (hog-app.ts) and a legitimate consumer (consumer-app.ts). Each reports over
// IPC; `ask` sends a command and waits (bounded) for the answer.
import { forkChild, siblingEntry, type Deployment, type ForkedChild } from '@sivshm/testing';
import { waitFor } from './test-deployment.js';

type Message = { event?: string; message?: string } & Record<string, unknown>;

/** One forked VM app. */
export interface VmApp {
  readonly app: ForkedChild<Message>;
  /** Sends `cmd` and resolves with the next message whose `event` is `answer` (≤ 5 s). */
  ask<T>(cmd: string, answer: string): Promise<T>;
  /** Sends `cmd`, expecting no answer. */
  tell(cmd: string): void;
  stop(): Promise<void>;
}

async function forkApp(name: string, what: string, args: string[]): Promise<VmApp> {
  const app = await forkChild<Message>({
    entry: siblingEntry(import.meta.url, name),
    args,
    what,
    ready: (ms) => ms.some((m) => m.event === 'ready'),
    failed: (ms) => ms.some((m) => m.event === 'error'),
    timeoutMs: 30_000,
    pipeStderr: true,
  });
  return {
    app,
    tell: (cmd) => void (app.child.connected && app.child.send({ cmd })),
    ask: async <T>(cmd: string, answer: string): Promise<T> => {
      if (!app.child.connected) {
        throw new Error(
          `${what} is gone (exit ${app.child.exitCode ?? app.child.signalCode}): ${app.stderr.join('').slice(-2000)}`,
        );
      }
      const from = app.messages.length;
      app.child.send({ cmd });
      let got: Message | undefined;
      await waitFor(
        () => (got = app.messages.slice(from).find((m) => m.event === answer)) !== undefined,
        `${what} to answer ${cmd}`,
        5000,
      );
      return got as T;
    },
    stop: () => app.stop(),
  };
}

/** What provider-app.ts measures about itself. */
export interface ProviderFigures {
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly maxTickGapMs: number;
  readonly rssStartMiB: number;
  readonly rssPeakMiB: number;
  readonly rssMiB: number;
  readonly served: number;
  /** `speed` records published while a consumer was connected. */
  readonly published: number;
  readonly consumers: number;
}

/** What hog-app.ts reports: how its calls ended, by code. */
export interface HogFigures {
  readonly held: boolean;
  readonly inFlight: number;
  readonly outcomes: Record<string, number>;
  readonly fastestBusyMs: number;
}

/** What consumer-app.ts reports. */
export interface ConsumerFigures {
  readonly events: number;
  readonly eventsSinceResubscribe: number;
  readonly errors: { code: string; message: string }[];
  readonly streamErrors: number;
  readonly answered: number;
  readonly failures: Record<string, number>;
  /** Call latencies since the previous report, ms. */
  readonly latenciesMs: number[];
}

/** The infotainment provider. */
export function startProviderApp(d: Deployment): Promise<VmApp> {
  return forkApp('provider-app', 'the provider app', [d.configPath, d.runDir]);
}

/** A consumer of MediaControl on VM `vm` that holds its channel and floods `control` calls. */
export function startHogApp(d: Deployment, vm: string): Promise<VmApp> {
  return forkApp('hog-app', 'the hog app', [d.configPath, d.runDir, vm]);
}

/** A legitimate consumer on VM `vm`: `speed` events and/or `media` calls. */
export function startConsumerApp(
  d: Deployment,
  vm: string,
  what: ReadonlyArray<'speed' | 'media'>,
): Promise<VmApp> {
  return forkApp('consumer-app', `the ${vm} consumer app`, [d.configPath, d.runDir, vm, ...what]);
}
