/**
 * The steps a tier-3 guest app reports: one `@@ app <json>` line each on the guest's console,
 * which the host reads as the serial log grows.
 */
import { sleep } from '@sivshm/testing';
import type { QemuGuest } from '@sivshm/testing/qemu';

export type Step = Record<string, unknown> & { step: string };

/** Every `@@ app {…}` line the guest printed so far. */
export function steps(g: QemuGuest): Step[] {
  const found: Step[] = [];
  for (const line of g.console().split('\n')) {
    const m = /@@ app (\{.*\})\s*$/.exec(line);
    if (m?.[1] === undefined) continue;
    try {
      found.push(JSON.parse(m[1]) as Step);
    } catch {
      // A console line cut by kernel output: the step is reported again or times out.
    }
  }
  return found;
}

/** The last step `name` so far, if any. */
export const lastStep = (g: QemuGuest, name: string): Step | undefined =>
  steps(g)
    .filter((s) => s.step === name)
    .at(-1);

/**
 * Waits for the guest's step `name` (or its `failed` step, its last app's end, or QEMU's exit); bounded. Returns
 * the step, or why it did not come.
 */
export async function waitStep(
  g: QemuGuest,
  name: string,
  timeoutMs: number,
): Promise<Step | string> {
  let dead = false;
  void g.exited.then(() => (dead = true));
  const end = Date.now() + timeoutMs;
  for (;;) {
    const all = steps(g);
    const s = all.find((x) => x.step === name);
    if (s !== undefined) return s;
    const failed = all.find((x) => x.step === 'failed');
    if (failed !== undefined) return `the app failed: ${String(failed['message'])} ${g.tail()}`;
    if (dead) return `QEMU exited before step ${name} ${g.tail()}`;
    // the guest's init reports its last app's end; a guest that stays up has nothing more to say
    const exited = /^@@ app-exit (\d+)/m.exec(g.console());
    if (exited !== null)
      return `the app ended (exit status ${exited[1]}) before step ${name} ${g.tail()}`;
    if (Date.now() > end) return `no step ${name} within ${timeoutMs} ms ${g.tail()}`;
    await sleep(250);
  }
}
