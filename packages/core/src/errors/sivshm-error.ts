/**
 * Base of every package's error class (`CoreError`, `TransportError`, `DiscoveryError`, …).
 *
 * Each package defines one subclass with its own string-literal `code` union. `is()` checks a
 * `Symbol.for` brand instead of `instanceof`, so it still works when two copies of a package
 * are loaded (a hoisting accident in a user's tree must not make error handling silently miss).
 *
 * @example
 * ```ts
 * type DiscoveryErrorCode = 'ERR_SD_TRUNCATED' | 'ERR_SD_BAD_LENGTH';
 * class DiscoveryError extends SivshmError<DiscoveryErrorCode> {
 *   static readonly brand = Symbol.for('sivshm.DiscoveryError');
 *   static is(e: unknown): e is DiscoveryError { return SivshmError.hasBrand(e, DiscoveryError.brand); }
 *   constructor(code: DiscoveryErrorCode, message: string, options?: ErrorOptions) {
 *     super(DiscoveryError.brand, 'DiscoveryError', code, message, options);
 *   }
 * }
 * ```
 */
export abstract class SivshmError<Code extends string = string> extends Error {
  /** Brand shared by every sivshm error, whatever the package. */
  static readonly anyBrand = Symbol.for('sivshm.Error');

  /** Machine-readable reason; stable across releases. */
  readonly code: Code;

  protected constructor(
    brand: symbol,
    name: string,
    code: Code,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = name;
    this.code = code;
    Object.defineProperty(this, brand, { value: true });
    Object.defineProperty(this, SivshmError.anyBrand, { value: true });
  }

  /** True for any sivshm error from any package (and any copy of it). */
  static isSivshmError(e: unknown): e is SivshmError {
    return SivshmError.hasBrand(e, SivshmError.anyBrand);
  }

  /** True when `e` carries `brand`; the building block of each subclass's `is()`. */
  protected static hasBrand(e: unknown, brand: symbol): boolean {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
  }
}
