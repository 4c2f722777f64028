/**
 * What the isolation scenario of tier 3 (issue 18) shares between its guest apps
 * (isolation-app.ts), the guests' root scan loop (app-image.ts) and the host's judge
 * (isolation-checks.ts): the two services, their markers and the step names.
 */
import { markerBytes } from './guest-markers.js';

/** The `isolation: device` service: its channel lives in a hot-plugged device of the pair. */
export const DEVICE_SERVICE = 'VehicleSpeed';
/** The `isolation: region` service beside it: its window is in the shared region. */
export const REGION_SERVICE = 'MediaControl';

/** The odometer value the device channel's calls, replies and events carry. */
export const DEVICE_MARKER = 987_654_311;
/** The title the region channel's events carry (plain mode: every guest kernel can read it). */
export const REGION_MARKER = 'sivshm-region-marker-7c31';

/** The markers as the BAR scan looks for them, in hex: [device, region]. */
export const ISOLATION_SCAN_MARKERS: readonly string[] = [
  markerBytes(DEVICE_MARKER).toString('hex'),
  Buffer.from(REGION_MARKER, 'latin1').toString('hex'),
];

/** The guest roles of the scenario (kernel command line `sivshm_role=`). */
export const ISOLATION_ROLE = {
  provider: 'iso-provider',
  consumer: 'iso-consumer',
  third: 'iso-third',
} as const;

/**
 * How long the consumer keeps device-channel traffic flowing after it first flows: the guests'
 * root loops scan every few seconds, and a TCG guest on a loaded host takes seconds per scan.
 */
export const DEVICE_FLOW_MS = 24_000;
/** How long the region service keeps going after the device channel is gone. */
export const REGION_AFTER_MS = 15_000;
/** Where the guests' root loops look for the channel device (a PCI function with this id). */
export const IVSHMEM_PCI_ID = '0x1af4:0x1110';

/** What root in the third guest writes over the control device and the region header. */
export const SCRIBBLE = 'sivshm-scribble!';
/** The read-only control device's PCI function in every guest (its slot is pinned). */
export const CONTROL_DEVICE_BDF = '0000:00:1e.0';
