// The elastic deployment the channel-move suites share (runtime's elastic-resize.int, the CLI's
// tap-follows-move.int): one VehicleSpeed channel whose window hostd grows from a 4 KiB ring
// under a saturated stream and shrinks back when quiet.
import { makeDeployment, type Deployment } from './deployment.js';

/** VehicleSpeed offered by infotainment (VM 1) to cluster (VM 2), elastic from 4 to 64 KiB. */
export function elasticDeployment(label: string): Deployment {
  return makeDeployment({
    label,
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'cluster' },
    ],
    services: [
      {
        name: 'VehicleSpeed',
        ringDataSize: '4KiB',
        elastic: {
          minRingDataSize: '4KiB',
          maxRingDataSize: '64KiB',
          growAfterMs: 100,
          shrinkAfterMs: 600,
          // A slow but correct move on two busy cores must not count as failed: these tests are
          // about what arrives, not the bound.
          moveTimeoutMs: 15_000,
        },
      },
    ],
  });
}
