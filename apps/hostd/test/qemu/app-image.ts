/**
 * The guest image of tier 3: a busybox initramfs with sivshm.ko, the Debian kernel's
 * virtio-serial and fw_cfg modules, the `provision-key` init step, the BAR scan module of the
 * modes check, and Node with one bundle of guest-app.ts and @sivshm/runtime, plus the
 * deployment's services.yaml and protos under /app.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compiledFile, packageRoot, siblingEntry, workspaceDir } from '@sivshm/testing';
import {
  addNodeApp,
  buildSivshmModule,
  buildStaticTool,
  buildTestModule,
  copyKernelModules,
  initScript,
  kernelModules,
  makeRootfs,
  packInitramfs,
} from '@sivshm/testing/qemu';
import { BAR_SCAN_TRIGGER, MARKER_CHANNELS, markerBytes } from './guest-markers.js';
import { SKIPPER_ROLE } from './guest-receipt-skipper.js';
import { ISOLATION_ROLE, ISOLATION_SCAN_MARKERS, IVSHMEM_PCI_ID } from './isolation-markers.js';

const INIT = initScript(`
echo "@@ guest $role up at $(cut -d' ' -f1 /proc/uptime)s"
for m in $(cat /lib/modules/load-order); do insmod "/lib/modules/$m" || echo "@@ not ok insmod $m"; done
if insmod /lib/modules/sivshm.ko; then echo "@@ ok insmod"; else echo "@@ not ok insmod: failed"; fi
/bin/provision-key
# The app runs unprivileged: it gets its control port, never the key (fw_cfg files are 0400).
for n in /sys/class/virtio-ports/*/name; do
  [ "$(cat "$n")" = org.sivshm.control ] && chown 1000:1000 "/dev/$(basename "$(dirname "$n")")"
done
chmod 1777 /tmp
echo 'root:x:0:0::/:/bin/sh' > /etc/passwd
echo 'app:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd
printf 'root:x:0:\\napp:x:1000:\\n' > /etc/group
if [ "$role" = consumer ]; then
  # Root's view of the BAR while the app's marker channels carry traffic (the modes check):
  # when the app asks, scan for every marker three times, a second apart.
  (
    for i in $(seq 600); do
      if [ -e ${BAR_SCAN_TRIGGER} ]; then
        for round in 1 2 3; do
          insmod /lib/modules/sivshm_bar_scan.ko marker=$(cat /lib/modules/markers) &&
            rmmod sivshm_bar_scan
          for m in $(cat /lib/modules/markers | tr , ' '); do
            dmesg | sed -n "s/.*sivshm_bar_scan: \\($m .*\\)/@@ bar-scan \\1/p" | tail -1
          done
          sleep 1
        done
        break
      fi
      sleep 1
    done
  ) &
fi
case "$role" in iso-*)
  # The isolation scenario (isolation-tier.ts): root lists this guest's ivshmem functions and
  # scans BAR2 of every one of them for both markers, round after round, for the guest's life.
  (
    # which device sivshm.ko reads the header from (the read-only control device, if bound)
    dmesg | sed -n 's/.*\\(sivshm: read-only control device.*\\)/@@ iso-ctl \\1/p' | head -1
    for n in $(seq 400); do
      l=""
      # the shell's own read and ${'$'}{d##*/}: no process per device (forks are slow under TCG and
      # take the vCPU from the app)
      for d in /sys/bus/pci/devices/*; do
        read v 2>/dev/null < $d/vendor; read i 2>/dev/null < $d/device
        [ "$v:$i" = ${IVSHMEM_PCI_ID} ] && l="$l ${'$'}{d##*/}"
      done
      echo "@@ iso-pci $n$l"
      insmod /lib/modules/sivshm_bar_scan.ko all=1 round=$n marker=$(cat /lib/modules/iso-markers) &&
        rmmod sivshm_bar_scan
      dmesg | sed -n "s/.*sivshm_bar_scan: r$n \\(.*\\)/@@ iso-scan $n \\1/p"
      if [ "$role" = ${ISOLATION_ROLE.third} ]; then
        # root writes over the control device and the region's header (isolation-checks.ts)
        insmod /lib/modules/sivshm_bar_scan.ko scribble=1 round=$n && rmmod sivshm_bar_scan
        dmesg | sed -n "s/.*sivshm_bar_scan: w$n \\(.*\\)/@@ iso-write $n \\1/p"
      fi
      echo "@@ iso-round-end $n"
      sleep 3
    done
  ) &
  # the third guest runs no app: only its root, scanning
  if [ "$role" = ${ISOLATION_ROLE.third} ]; then wait; poweroff -f; fi
  ;;
esac
echo "@@ app starting at $(cut -d' ' -f1 /proc/uptime)s"
if [ "$role" = consumer ]; then
  # An app that dies on a live link first: the next one must start clean on the same port.
  su -s /bin/sh app -c "/bin/node /app/dist/guest.js crashing-consumer /app/services.yaml"
  echo "@@ crashing app exited at $(cut -d' ' -f1 /proc/uptime)s"
  # Hostile apps that skip the device's REVOKE and ack with a forged receipt, then with none:
  # hostd must keep both windows quarantined (receipt-checks.ts).
  for r in ${SKIPPER_ROLE.forged} ${SKIPPER_ROLE.none}; do
    su -s /bin/sh app -c "/bin/node /app/dist/guest.js $r /app/services.yaml"
    echo "@@ $r exited at $(cut -d' ' -f1 /proc/uptime)s"
  done
fi
su -s /bin/sh app -c "/bin/node /app/dist/guest.js $role /app/services.yaml"
echo "@@ app-exit $?"
# the isolation scenario's pair guests stay up (their root loops go on) until the host ends them
case "$role" in iso-*) wait ;; esac
`);

/** The BAR scan module's source: beside this file's source, whether compiled or not. */
const BAR_SCAN_SOURCE = join(packageRoot(import.meta.url), 'test', 'qemu', 'sivshm_bar_scan.c');

/** guest-app beside this module, in the form this module runs in (compiled or source). */
const GUEST_APP = siblingEntry(import.meta.url, 'guest-app').script;

/**
 * The part of the image every kernel shares, packed once per tier: Node with one bundle of
 * guest-app and @sivshm/runtime's Node.open under /app, and core's .proto files. Returns the
 * archive (the kernel unpacks it before the kernel's own part, see buildAppImage).
 */
export async function buildAppLayer(work: string): Promise<string> {
  const runtimeIndex = compiledFile('@sivshm/runtime', 'src/index.ts');
  for (const f of [runtimeIndex, GUEST_APP]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` at the root`);
  }
  const entry = join(work, 'guest-entry.mjs');
  writeFileSync(
    entry,
    `import { Node } from ${JSON.stringify(runtimeIndex)};
import { runGuestApp } from ${JSON.stringify(GUEST_APP)};
await runGuestApp((o) => Node.open(o), process.argv.slice(2));
`,
  );
  const layer = join(work, 'app-layer');
  mkdirSync(join(layer, 'app', 'proto'), { recursive: true });
  await addNodeApp(layer, { guest: entry });
  // @sivshm/core loads its .proto files from `<package root>/proto` at run time: in the bundle
  // the package root is /app.
  for (const f of ['control.proto', 'sivshm.proto']) {
    copyFileSync(join(workspaceDir('@sivshm/core'), 'proto', f), join(layer, 'app', 'proto', f));
  }
  const archive = join(work, 'app-layer.cpio.gz');
  packInitramfs(layer, archive);
  return archive;
}

/**
 * Builds the guest initramfs for kernel `kver` in `work`: the shared `appLayer`, then this
 * kernel's part (sivshm.ko and the BAR scan module built W=1 against its headers, its virtio
 * and fw_cfg modules, busybox, /init, `provision-key`) with `configDir` (services.yaml and
 * proto/, relative paths) copied to /app; returns its path.
 */
export function buildAppImage(
  work: string,
  kver: string,
  configDir: string,
  appLayer: string,
): string {
  const { ko, log } = buildSivshmModule(work, kver);
  if (!existsSync(ko)) throw new Error(`sivshm.ko did not build: ${log.slice(-2000)}`);
  const scan = buildTestModule(work, kver, BAR_SCAN_SOURCE);
  if (!existsSync(scan.ko)) throw new Error(`the BAR scan module did not build: ${scan.log}`);
  const root = join(work, 'rootfs');
  makeRootfs(root, ['app/proto']);
  buildStaticTool('provision-key.c', join(root, 'bin/provision-key'));
  copyFileSync(ko, join(root, 'lib/modules/sivshm.ko'));
  copyFileSync(scan.ko, join(root, 'lib/modules/sivshm_bar_scan.ko'));
  // the isolation scenario's markers, for its root loops
  writeFileSync(join(root, 'lib/modules/iso-markers'), ISOLATION_SCAN_MARKERS.join(','));
  writeFileSync(
    join(root, 'lib/modules/markers'),
    MARKER_CHANNELS.map((c) => markerBytes(c.marker).toString('hex')).join(','),
  );
  // virtio-serial for the control port, fw_cfg for the key (both modules in Debian's kernel)
  const mods = kernelModules(kver, ['virtio_pci', 'virtio_console', 'qemu_fw_cfg']);
  const files = copyKernelModules(mods, join(root, 'lib/modules'));
  writeFileSync(join(root, 'lib/modules/load-order'), files.join('\n'));
  writeFileSync(join(root, 'init'), INIT, { mode: 0o755 });
  // Readable by the unprivileged app: this copy names key files, it holds no key.
  copyFileSync(join(configDir, 'services.yaml'), join(root, 'app', 'services.yaml'));
  chmodSync(join(root, 'app', 'services.yaml'), 0o644);
  copyFileSync(
    join(configDir, 'proto', 'vehicle.proto'),
    join(root, 'app', 'proto', 'vehicle.proto'),
  );
  const image = join(work, 'initramfs.cpio.gz');
  // The kernel unpacks concatenated archives in order: the shared layer, then this kernel's part.
  packInitramfs(root, image, [appLayer]);
  return image;
}
