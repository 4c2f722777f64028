import type { Observable } from 'rxjs';

/** Where an SD message comes from or goes to: an IP address and UDP port, or a link name. */
export interface SdAddress {
  readonly address: string;
  readonly port: number;
}

/** One received SD message. */
export interface SdDatagram {
  readonly bytes: Uint8Array;
  readonly from: SdAddress;
  /** True when it arrived on the multicast relation (its session counter is kept apart). */
  readonly multicast: boolean;
}

/**
 * What the SD runtime sends and receives through: UDP (`UdpSdTransport`), the control link
 * to hostd (`MessageLinkSdTransport`), or an in-process segment (`MemorySdNetwork`).
 */
export interface SdTransport {
  /** Sends one SD message; `to` undefined means the multicast group (or the link's peer). */
  send(bytes: Uint8Array, to?: SdAddress): Promise<void>;
  /** Received messages. Messages from our own address are already dropped. */
  readonly messages$: Observable<SdDatagram>;
  /** The address peers see as our source (used for unicast replies and logs). */
  readonly localAddress: SdAddress;
  /**
   * True when every message, multicast or not, reaches the same single peer over one ordered
   * relation (a control link): the sender then keeps one session counter, since the receiver
   * cannot tell "multicast" from "unicast" messages apart for reboot detection.
   */
  readonly singleRelation?: boolean;
  /** Largest message the transport carries in one piece, bytes; undefined: no limit. */
  readonly maxMessageBytes?: number;
  /** Releases sockets; idempotent. */
  close(): Promise<void>;
}
