/**
 * Remembers where in services.yaml each parsed VM, service, eventgroup, event and method came
 * from, so later stages (the broker refusing an offer, `sivshm config check --keys` failing to
 * read a key) can point at the line without the typed config carrying positions.
 */

/** A value's place in its config file. */
export interface ConfigLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path, e.g. `services[1]`. */
  readonly path: string;
}

const locations = new WeakMap<object, ConfigLocation>();

/** Records where `value` was defined; called by the parser only. */
export function recordConfigLocation(value: object, location: ConfigLocation): void {
  locations.set(value, Object.freeze({ ...location }));
}

/**
 * Where a `VmConfig`, its `grantKey`, a `ServiceDefinition`, eventgroup, event or method was defined, or
 * undefined for objects that did not come from `parseConfig`.
 *
 * @example
 * ```ts
 * declare const config: ServiceConfig;
 * const at = configLocationOf(serviceById(config, 0x1234)!);
 * if (at) console.error(`${at.file}:${at.line}:${at.column}: ${at.path}: not offered`);
 * ```
 */
export function configLocationOf(value: object): ConfigLocation | undefined {
  return locations.get(value);
}
