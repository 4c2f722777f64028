import { RuntimeError } from '../errors/runtime-error.js';
import { Node, type NodeOpenOptions } from '../node/node.js';

/**
 * The one `Node` of a container, opened on first use, and the services resolved on it, each
 * made once. A failed open, consume or offer is not kept: the next resolution tries again (an
 * inversify singleton would keep the rejected promise and rethrow it from every later `get`
 * and from `unbindAll`).
 */
export class LazyNode {
  #node: Promise<Node> | undefined;
  readonly #made = new Map<unknown, Promise<unknown>>();
  #closed = false;

  constructor(private readonly options: NodeOpenOptions) {}

  node(): Promise<Node> {
    if (this.#closed) {
      return Promise.reject(
        new RuntimeError(
          'ERR_CLOSED',
          'the sivshm module was unloaded: its Node is closed (load the module again for a new one)',
        ),
      );
    }
    this.#node ??= Node.open(this.options).catch((e: unknown) => {
      this.#node = undefined;
      throw e;
    });
    return this.#node;
  }

  /** `make(node)` once per `key` while it succeeds. */
  once<T>(key: unknown, make: (node: Node) => Promise<T>): Promise<T> {
    let p = this.#made.get(key) as Promise<T> | undefined;
    if (p === undefined) {
      p = this.node()
        .then(make)
        .catch((e: unknown) => {
          this.#made.delete(key);
          throw e;
        });
      this.#made.set(key, p);
    }
    return p;
  }

  /** Closes the node if it was opened: its offers are withdrawn, its consumed services closed. */
  async close(): Promise<void> {
    this.#closed = true;
    const node = await this.#node?.catch(() => undefined);
    this.#node = undefined;
    this.#made.clear();
    await node?.close();
  }
}
