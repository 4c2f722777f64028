/**
 * The Node side of the QEMU tier: runs inside a guest (bundled by run-vm-tests with the spec it
 * runs) against the real `/dev/sivshm`.
 *
 *   node runner.js <control tty> <spec module> <KernelDevice module> <sivshm.ko>
 *
 * It asks the host (playing hostd on the control tty, which init put in raw mode) for this VM's
 * grant key and exports it, the VM id and `SIVSHM_TEST_REGION=serial:<tty>` (hostd's view of the
 * region, read over the same line) for the spec. It loads the spec under a small mocha-compatible
 * runner (`describe`, `it`, `before`/`after`, `beforeEach`/`afterEach`, `this.skip()`,
 * `this.timeout()`) and runs each test in its own Node process on a freshly loaded module
 * provisioned with `KernelDevice.provisionKey`, printing one
 * `@@ node ok|not ok|skip <title>[ ## <reason>]` line per test for the host to count.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const REPLY_TIMEOUT_MS = 30_000;
const DEFAULT_TEST_TIMEOUT_MS = 20_000;
const CHILD_TIMEOUT_MS = 60_000;

type Hook = (this: TestContext) => unknown;

interface TestContext {
  skip(): never;
  timeout(ms?: number): number;
}

interface Test {
  readonly title: string;
  readonly fn: Hook | undefined;
}

interface Suite {
  readonly title: string;
  readonly parent: Suite | undefined;
  readonly children: Array<Suite | Test>;
  readonly before: Hook[];
  readonly after: Hook[];
  readonly beforeEach: Hook[];
  readonly afterEach: Hook[];
}

const newSuite = (title: string, parent: Suite | undefined): Suite => ({
  title,
  parent,
  children: [],
  before: [],
  after: [],
  beforeEach: [],
  afterEach: [],
});

const root = newSuite('', undefined);
let current = root;

/** Thrown by `this.skip()`: the test is pending, not failed. */
class Pending extends Error {}

function installGlobals(): void {
  const g = globalThis as Record<string, unknown>;
  g['describe'] = (title: string, body: () => void): void => {
    const s = newSuite(title, current);
    current.children.push(s);
    const outer = current;
    current = s;
    try {
      body();
    } finally {
      current = outer;
    }
  };
  g['it'] = (title: string, fn?: Hook): void => {
    current.children.push({ title, fn });
  };
  g['before'] = (fn: Hook): number => current.before.push(fn);
  g['after'] = (fn: Hook): number => current.after.push(fn);
  g['beforeEach'] = (fn: Hook): number => current.beforeEach.push(fn);
  g['afterEach'] = (fn: Hook): number => current.afterEach.push(fn);
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Runs one hook or test body with `this` bound like mocha's, bounded by its timeout. */
async function invoke(fn: Hook): Promise<void> {
  let limit = DEFAULT_TEST_TIMEOUT_MS;
  const ctx: TestContext = {
    skip: () => {
      throw new Pending('skipped by the test');
    },
    timeout: (ms?: number) => (ms === undefined ? limit : (limit = ms)),
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(() => fn.call(ctx)),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${limit} ms`)), limit);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function chain(s: Suite | undefined): Suite[] {
  const out: Suite[] = [];
  for (let p = s; p !== undefined; p = p.parent) out.unshift(p);
  return out;
}

const titleOf = (s: Suite, t: Test): string =>
  [...chain(s).map((x) => x.title), t.title].filter((x) => x !== '').join(' > ');

const failure = (e: unknown): string =>
  oneLine(e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** Every test in registration order, with the suite that holds it. */
function flatten(s: Suite, out: Array<{ suite: Suite; test: Test }> = []): typeof out {
  for (const c of s.children) {
    if ('children' in c) flatten(c, out);
    else out.push({ suite: s, test: c });
  }
  return out;
}

/**
 * Runs one test the way mocha would: its suites' `before` hooks, every `beforeEach` from the
 * root down, the body, every `afterEach` back up, the `after` hooks. Returns its result line.
 */
async function runOne(suite: Suite, test: Test): Promise<string> {
  const name = oneLine(titleOf(suite, test));
  if (test.fn === undefined) return `@@ node skip ${name} ## no body`;
  const suites = chain(suite);
  let error: unknown;
  try {
    for (const x of suites) for (const h of x.before) await invoke(h);
    for (const x of suites) for (const h of x.beforeEach) await invoke(h);
    await invoke(test.fn);
  } catch (e) {
    error = e;
  }
  for (const x of [...suites].reverse()) {
    for (const h of [...x.afterEach, ...x.after]) {
      try {
        await invoke(h);
      } catch (e) {
        error ??= new Error(`after hook: ${failure(e)}`);
      }
    }
  }
  if (error instanceof Pending) return `@@ node skip ${name} ## ${error.message}`;
  if (error === undefined) return `@@ node ok ${name}`;
  return `@@ node not ok ${name} ## ${failure(error)}`;
}

/** Sends one line to the host and reads its one-line reply (bounded, the tty is raw). */
function askHost(tty: string, request: string): string {
  const fd = openSync(tty, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  try {
    writeSync(fd, `${request}\n`);
    const byte = Buffer.alloc(1);
    let reply = '';
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      let n = 0;
      try {
        n = readSync(fd, byte, 0, 1, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (n === 0) {
        Atomics.wait(nap, 0, 0, 2);
        continue;
      }
      const c = String.fromCharCode(byte[0] ?? 0);
      if (c === '\n') return reply;
      if (c !== '\r') reply += c;
    }
    throw new Error(`no reply from the host to "${request}" within ${REPLY_TIMEOUT_MS} ms`);
  } finally {
    closeSync(fd);
  }
}

interface KernelDeviceModule {
  KernelDevice: { provisionKey(key: Uint8Array, vmId: number): void };
}

/**
 * A fresh device for each test, as the contract's harness promises: the module is reloaded (new
 * grant and revoke serial windows, no key) and provisioned again with the VM's key.
 */
async function freshDevice(module: string, kernelDevice: string, key: string, vmId: string) {
  if (existsSync('/dev/sivshm')) execFileSync('rmmod', ['sivshm'], { stdio: 'inherit' });
  execFileSync('insmod', [module], { stdio: 'inherit' });
  const { KernelDevice } = (await import(pathToFileURL(kernelDevice).href)) as KernelDeviceModule;
  KernelDevice.provisionKey(Uint8Array.from(Buffer.from(key, 'hex')), Number(vmId));
}

/** In a child process: registers the spec and runs test number `index` of it. */
async function child(spec: string, index: number): Promise<void> {
  installGlobals();
  await import(pathToFileURL(spec).href);
  const t = flatten(root)[index];
  say(
    t === undefined
      ? `@@ node not ok test #${index} ## no such test`
      : await runOne(t.suite, t.test),
  );
}

async function main(): Promise<void> {
  const [tty, spec, kernelDevice, module, flag, which] = process.argv.slice(2);
  if (
    tty === undefined ||
    spec === undefined ||
    kernelDevice === undefined ||
    module === undefined
  ) {
    say('@@ node not ok runner ## usage: runner.js <tty> <spec> <KernelDevice module> <sivshm.ko>');
    process.exitCode = 2;
    return;
  }
  if (flag === '--test') {
    await child(spec, Number(which));
    return;
  }
  const [key, vmId] = askHost(tty, 'KEY').split(' ');
  if (key?.length !== 64 || vmId === undefined) throw new Error('malformed KEY reply');
  process.env['SIVSHM_TEST_GRANT_KEY'] = key;
  process.env['SIVSHM_TEST_VM_ID'] = vmId;
  process.env['SIVSHM_TEST_REGION'] = `serial:${tty}`;
  installGlobals();
  await import(pathToFileURL(spec).href);
  const tests = flatten(root);
  say(`@@ node tests ${tests.length}`);
  let failed = 0;
  for (const [i, { suite, test }] of tests.entries()) {
    await freshDevice(module, kernelDevice, key, vmId);
    // Its own process: a test the kernel answers with SIGBUS must not take the others with it.
    const r = spawnSync(process.execPath, [...process.argv.slice(1, 6), '--test', String(i)], {
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('@@ node '));
    const died = r.signal === null ? `exit ${r.status}` : `the test's process died of ${r.signal}`;
    const result =
      line ??
      `@@ node not ok ${oneLine(titleOf(suite, test))} ## ${died} ${oneLine(r.stderr).slice(0, 300)}`;
    if (!result.startsWith('@@ node ok') && !result.startsWith('@@ node skip')) failed++;
    say(result);
  }
  say(`@@ node done, ${failed} failed`);
}

main().catch((e: unknown) => {
  say(`@@ node not ok runner ## ${failure(e)}`);
  process.exitCode = 1;
});
