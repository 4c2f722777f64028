// What the scale harness tells a VM process to do, and what the process reports back.

/** The services (by name in services.yaml) and instances one VM process offers or consumes. */
export interface ScaleVmPlan {
  readonly role: 'provider' | 'consumer';
  readonly services: readonly { readonly name: string; readonly instances: readonly number[] }[];
  /** Provider: offer everything with one `Promise.all` instead of one `await` after another. */
  readonly atOnce?: boolean;
  /** Consumer: how long to keep watching for churn after every channel is up, ms. */
  readonly watchMs?: number;
}

/** Start-up cost of a VM process, measured inside it. */
export interface StartupCost {
  readonly importMs: number;
  readonly openMs: number;
  readonly cpuMs: number;
  readonly rssBytes: number;
}

export type ScaleVmReport =
  | {
      readonly event: 'ready';
      readonly vm: string;
      readonly startup: StartupCost;
      readonly offerMs: number;
      readonly cpuMs: number;
      readonly rssBytes: number;
    }
  | {
      readonly event: 'open';
      readonly vm: string;
      readonly startup: StartupCost;
      readonly atMs: number;
    }
  | {
      readonly event: 'connected';
      readonly vm: string;
      readonly startup: StartupCost;
      readonly connectedAtMs: number;
      readonly channels: number;
      readonly handshakeMs: readonly number[];
      /** Channels each consumed service established (1 each when nothing churned). */
      readonly connections: readonly number[];
      /** Why channels ended after all were up (first few). */
      readonly ended: readonly string[];
      readonly callsAnswered: number;
      readonly callErrors: readonly string[];
      readonly cpuMs: number;
      readonly rssBytes: number;
    }
  | { readonly event: 'published'; readonly vm: string; readonly sent: number }
  | {
      readonly event: 'counted';
      readonly vm: string;
      readonly received: number;
      /** The counting window's length (wall clock, set by the `count` command). */
      readonly ms: number;
      /** The consumer process's CPU time (user + system) over the same window, ms. */
      readonly cpuMs: number;
    }
  | { readonly event: 'error'; readonly vm: string; readonly message: string };
