// The QEMU guest harness shared by the kernel-module tier (packages/kmod/test/vm) and the
// apps-in-guests tier (apps/hostd/test/qemu): images, the QEMU command line, booting and
// following a guest, and recording results.
export {
  BUILD_TIMEOUT_MS,
  addNodeRuntime,
  buildSivshmModule,
  buildStaticTool,
  buildTestModule,
  copyKernelModules,
  initScript,
  kernelModules,
  kmodRoot,
  makeRootfs,
  missingTools,
  packInitramfs,
  run,
  sharedLibraries,
} from './guest-image.js';
export { bootGuest, type BootOptions, type GuestExit, type QemuGuest } from './guest.js';
export {
  SUPPORTED_KERNEL_SERIES,
  checkGuestKernel,
  chooseKernels,
  guestKernelVersion,
  installedKernels,
  kernelSeries,
  type GuestKernel,
  type KernelChoice,
} from './kernels.js';
export { addNodeApp, transportAddon } from './node-app.js';
export { preflight } from './preflight.js';
export { connectWhenAccepting, openQmp, qmpSocket, type QmpClient } from './qmp.js';
export {
  CONTROL_DEVICE_SLOT,
  controlDevice,
  fwCfg,
  ivshmemDoorbell,
  ivshmemPlain,
  qemuArgs,
  serialLine,
  virtioSerialPort,
  type GuestArch,
  type GuestMachine,
} from './qemu-args.js';
export { TierResults, selectedGroups, type TierResult } from './tier-results.js';
