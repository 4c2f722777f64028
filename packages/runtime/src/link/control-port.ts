import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors/runtime-error.js';

/** The virtio-serial port name hostd's QEMU command line gives the control link. */
export const CONTROL_PORT_NAME = 'org.sivshm.control';

/** Where the guest kernel lists virtio-serial ports, one folder per port with a `name` file. */
const VIRTIO_PORTS = '/sys/class/virtio-ports';

/**
 * The device node of the virtio-serial port named `name` (QEMU:
 * `-device virtserialport,name=org.sivshm.control,...`), e.g. `/dev/vport1p1`.
 *
 * Use it in a QEMU guest when the port's number is not known in advance (it depends on the
 * order of devices on QEMU's command line). Rejects with `ERR_CONNECT` naming the ports seen
 * when none has that name.
 */
export function findControlPort(name = CONTROL_PORT_NAME, sysfs = VIRTIO_PORTS): string {
  const seen: string[] = [];
  const ports = existsSync(sysfs) ? readdirSync(sysfs) : [];
  for (const port of ports) {
    let portName: string;
    try {
      portName = readFileSync(path.join(sysfs, port, 'name'), 'utf8').trim();
    } catch {
      continue; // a port without a name (a console): not ours
    }
    seen.push(`${port}=${portName}`);
    if (portName === name) return path.join('/dev', port);
  }
  throw new RuntimeError(
    'ERR_CONNECT',
    `no virtio-serial port named ${name} (${ports.length === 0 ? `${sysfs} is empty or missing: is virtio_console loaded and the VM started with a virtserialport?` : `ports: ${seen.join(', ')}`})`,
  );
}

/** True when `p` is a character device (a virtio-serial port), false for a socket or missing. */
export function isCharDevice(p: string): boolean {
  try {
    return statSync(p).isCharacterDevice();
  } catch {
    return false;
  }
}
