/**
 * The SD header flags byte (SD-38..SD-44, SD-1187): bit 7 Reboot, bit 6 Unicast (always set
 * by a sender that can receive unicast SD, which every sender here can), bit 5 Explicit
 * Initial Data Control (Open spec; removed in AUTOSAR R21-11). Bits 4..0 are sent 0 and
 * ignored on receipt.
 */
export interface SdFlags {
  readonly reboot: boolean;
  readonly unicast: boolean;
  readonly explicitInitialDataControl: boolean;
}

const REBOOT = 0x80;
const UNICAST = 0x40;
const EIDC = 0x20;

/** The flags byte for `f`. */
export function flagsToByte(f: SdFlags): number {
  return (
    (f.reboot ? REBOOT : 0) | (f.unicast ? UNICAST : 0) | (f.explicitInitialDataControl ? EIDC : 0)
  );
}

/** The flags of a received flags byte; undefined bits are ignored. */
export function flagsFromByte(b: number): SdFlags {
  return {
    reboot: (b & REBOOT) !== 0,
    unicast: (b & UNICAST) !== 0,
    explicitInitialDataControl: (b & EIDC) !== 0,
  };
}
