import {
  SOMEIP_E_OK,
  SOMEIP_PROTOCOL_VERSION,
  SomeIpHeaderOffset as At,
  SomeIpMessageType,
} from '@sivshm/abi';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/** SOME/IP Message ID of every SD message: service 0xFFFF, method 0x8100 (SD-26). */
export const SD_MESSAGE_ID = 0xffff8100;
/** Smallest SD message: SOME/IP header + flags/reserved + two empty array lengths. */
export const SD_MIN_MESSAGE_SIZE = 28;
/** Largest session id; after it the counter wraps to 1 (SD-765). */
export const SD_MAX_SESSION = 0xffff;

/**
 * Reads and checks the 16-byte SOME/IP header of an SD message (SD-26, SD-205): Message ID
 * 0xFFFF8100, Length = bytes after the Length field, Client ID 0, Session ID ≠ 0, Protocol
 * Version 1, Interface Version 1, Message Type 0x02, Return Code 0x00. Returns the session id.
 */
export function readSdSomeIpHeader(r: ByteReader, datagramLength: number): number {
  r.need(SD_MIN_MESSAGE_SIZE, 'an SD message');
  const fail = (at: number, why: string): never => {
    throw DiscoveryError.at('ERR_SD_HEADER', at, why);
  };
  const messageId = r.u32('Message ID');
  if (messageId !== SD_MESSAGE_ID)
    fail(At.messageId, `Message ID 0x${hex8(messageId)} is not the SD Message ID 0xffff8100`);
  const length = r.u32('Length');
  if (length !== datagramLength - 8) {
    throw DiscoveryError.at(
      'ERR_SD_LENGTH',
      At.length,
      `SOME/IP Length ${length} disagrees with the ${datagramLength}-byte message (must be ${datagramLength - 8})`,
    );
  }
  const clientId = r.u16('Client ID');
  if (clientId !== 0)
    fail(At.requestId, `Client ID 0x${clientId.toString(16)} must be 0x0000 in SD`);
  const sessionId = r.u16('Session ID');
  if (sessionId === 0) fail(At.requestId + 2, 'Session ID 0 is not allowed (1..0xFFFF)');
  const proto = r.u8('Protocol Version');
  if (proto !== SOMEIP_PROTOCOL_VERSION)
    fail(At.protocolVersion, `Protocol Version ${proto} must be 1`);
  const iface = r.u8('Interface Version');
  if (iface !== 1) fail(At.interfaceVersion, `Interface Version ${iface} must be 1 in SD`);
  const type = r.u8('Message Type');
  if (type !== SomeIpMessageType.NOTIFICATION)
    fail(At.messageType, `Message Type 0x${type.toString(16)} must be 0x02 (Notification)`);
  const rc = r.u8('Return Code');
  if (rc !== SOMEIP_E_OK)
    fail(At.returnCode, `Return Code 0x${rc.toString(16)} must be 0x00 (E_OK)`);
  return sessionId;
}

/** Writes the SD SOME/IP header; returns the offset of the Length field to patch. */
export function writeSdSomeIpHeader(w: ByteWriter, sessionId: number): number {
  w.u32(SD_MESSAGE_ID);
  const lengthAt = w.reserve(4);
  w.u16(0);
  w.u16(sessionId);
  w.u8(SOMEIP_PROTOCOL_VERSION);
  w.u8(1); // interface version of SD
  w.u8(SomeIpMessageType.NOTIFICATION);
  w.u8(SOMEIP_E_OK);
  return lengthAt;
}

function hex8(v: number): string {
  return v.toString(16).padStart(8, '0');
}
