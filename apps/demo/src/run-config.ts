import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';

/**
 * Writes a copy of services.yaml `source` to `target` with the region file moved to
 * `regionPath` (so a demo run never touches another run's region), every relative path
 * (protos, key files) made absolute, since the copy lives in another directory, and, when
 * `mode` is given, every service's `minMode` set to it (so every channel runs in that mode).
 */
export function writeRunConfig(
  source: string,
  target: string,
  regionPath: string,
  mode?: 'plain' | 'mac' | 'aead',
): void {
  const doc = parseDocument(readFileSync(source, 'utf8'));
  if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
  const base = path.dirname(source);
  const abs = (p: unknown): unknown =>
    typeof p === 'string' && !path.isAbsolute(p) ? path.join(base, p) : p;
  doc.setIn(['region', 'path'], regionPath);
  const protos = doc.get('protos');
  if (isSeq(protos)) {
    protos.items.forEach((_, i) => protos.set(i, abs(protos.get(i))));
  }
  const vms = doc.get('vms');
  if (isSeq(vms)) {
    for (const vm of vms.items) {
      if (!isMap(vm)) continue;
      const key = vm.get('grantKey');
      if (isMap(key) && key.has('file')) key.set('file', abs(key.get('file')));
    }
  }
  const services = doc.get('services');
  if (mode !== undefined && isSeq(services)) {
    for (const svc of services.items) if (isMap(svc)) svc.set('minMode', mode);
  }
  writeFileSync(target, doc.toString(), { mode: 0o600 });
}
