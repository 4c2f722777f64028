import { missingTools } from './guest-image.js';
import { chooseKernels, type GuestKernel } from './kernels.js';
import type { TierResults } from './tier-results.js';

/**
 * The kernels to boot (kernels.ts), or undefined after recording `<tier>-preflight` as failed
 * with what this machine lacks: a tier that cannot run must not look green. A supported kernel
 * series left out of the default choice because it is not installed is recorded as skipped
 * under `<series>/<tier>`, naming the packages that bring it.
 */
export function preflight(tier: string, results: TierResults): GuestKernel[] | undefined {
  const missing = missingTools();
  const choice = chooseKernels();
  for (const n of choice.notInstalled) {
    results.skip(
      `${n.series}/${tier}`,
      `no ${n.series} kernel with its build tree here (${n.hint})`,
    );
  }
  if (choice.unknown.length > 0) {
    missing.push(`SIVSHM_VM_KERNELS names kernels not installed: ${choice.unknown.join(', ')}`);
  }
  if (choice.kernels.length === 0 && choice.unknown.length === 0) {
    missing.push(
      'a kernel with /boot/vmlinuz-V and /lib/modules/V/build (linux-image-amd64 linux-headers-amd64)',
    );
  }
  if (missing.length > 0) {
    results.record(`${tier}-preflight`, false, `missing: ${missing.join(', ')}`);
    return undefined;
  }
  results.note(
    `${tier}: kernels ${choice.kernels.map((k) => k.version).join(', ')} (SIVSHM_VM_KERNELS=${process.env['SIVSHM_VM_KERNELS'] ?? 'unset: every supported kernel installed'})`,
  );
  return [...choice.kernels];
}
