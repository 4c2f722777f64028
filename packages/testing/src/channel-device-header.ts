// The header of a channel device (an `isolation: device` channel's own memory, docs/protocol.md
// §10) as the tests of abi, core and transport-ivshmem write it: the fields each test varies are
// given, the others are the pair and service every such test uses.

/** The fields of a channel device header that a test chooses. */
export interface ChannelDeviceChoice {
  readonly deviceSize: number;
  readonly epoch: bigint;
  readonly channelId: bigint;
  readonly windowLength: number;
  readonly ringDataSize: number;
}

/**
 * A whole header (the shape of `ChannelDeviceHeader` in @sivshm/abi, which this workspace does
 * not import): 4 KiB pages, consumer VM 2, provider VM 1, service 0x1234 instance 1 major 1, a
 * plain channel.
 */
export function channelDeviceHeader<T extends ChannelDeviceChoice>(chosen: T) {
  return {
    pageGranule: 4096 as const,
    consumerVm: 2,
    providerVm: 1,
    service: 0x1234,
    instance: 1,
    major: 1,
    mode: 0,
    ...chosen,
  };
}
