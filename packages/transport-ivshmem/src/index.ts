// The public surface of @sivshm/transport-ivshmem, listed by hand.
//
// Vocabulary (one meaning per verb, named the way iceoryx2 names them):
//   loan        reserve a record slot in the ring to write into; nothing is visible yet
//   send        make records visible to the peer (and ring its doorbell if it sleeps):
//               `send(slot)` after a loan, `sendCopy(header, payload)` copies a payload in
//   stage       write a loaned slot into the ring without making it visible; `sendStaged()`
//               then sends every staged record with one index store (batching)
//   abandon     give a loaned slot back unsent
//   receive     take the next record (`RingRecord`) or decoded `Sample`; `release` gives it back
//   publish     typed service end: encode an event and send it (`EventPublisher`)
//   call        typed service end: send a request, resolve with the response (`fire`: no response)
// A plain verb never waits: when the ring is full it returns false / undefined. Its `…Wait`
// form waits for room, bounded by a timeout (`ERR_TIMEOUT`).
export { TransportError } from './errors/transport-error.js';
export type { TransportErrorCode, SyscallFailure } from './errors/transport-error.js';
export { loadAddon } from './native/addon.js';
export type { NativeAddon } from './native/addon.js';
export {
  mapFile,
  unmap,
  createRegionFile,
  memfdCreate,
  fileSize,
  liveMappingCount,
} from './native/map-file.js';
export type {
  MappedFile,
  MappingHandle,
  MapFileOptions,
  CreateRegionFileOptions,
} from './native/map-file.js';
export { openFd, closeFd, ioctl } from './native/fd.js';
export { eventfdCreate, eventfdWrite, eventfdRead } from './native/eventfd.js';
export type { EventfdOptions } from './native/eventfd.js';
export { dupFd } from './native/fd.js';
export { FdWatcher, FdEvents, watchFd, watchReadable } from './native/fd-watcher.js';
export type { FdReadyCallback } from './native/fd-watcher.js';
export {
  sendFds,
  recvWithFds,
  unixSocketPair,
  unixPeerCredentials,
  MAX_FDS_PER_MESSAGE,
} from './native/unix-socket.js';
export type { ReceivedMessage, UnixSocketType } from './native/unix-socket.js';
export { UnixStream } from './native/unix-stream.js';
export type { UnixStreamOptions, UnixConnectOptions } from './native/unix-stream.js';
export { UnixListener } from './native/unix-listener.js';
export type { UnixListenOptions } from './native/unix-listener.js';
export { IvshmemServer } from './ivshmem-server/ivshmem-server.js';
export type { IvshmemServerOptions, IvshmemShmSource } from './ivshmem-server/ivshmem-server.js';
export { IvshmemClient } from './ivshmem-server/ivshmem-client.js';
export type {
  IvshmemClientOptions,
  IvshmemNotification,
  IvshmemPeerEvent,
} from './ivshmem-server/ivshmem-client.js';
export {
  IVSHMEM_PROTOCOL_VERSION,
  IVSHMEM_MAX_VECTORS,
  IVSHMEM_MAX_PEER_ID,
  encodeIvshmemMessage,
  decodeIvshmemMessage,
} from './ivshmem-server/ivshmem-protocol.js';
export { RegionLayout } from './region/region-layout.js';
export type { RegionLayoutInfo } from './region/region-layout.js';
export { writeRegionHeader, readRegionHeader, HostdHeartbeat } from './region/region-header.js';
export type { RegionHeaderInfo } from './region/region-header.js';
export { ChannelTableWriter } from './region/channel-table-writer.js';
export { ChannelTableReader } from './region/channel-table-reader.js';
export type { IndexedChannelEntry } from './region/channel-table-reader.js';
export { WindowAllocator } from './region/window-allocator.js';
export type { WindowAllocatorStats } from './region/window-allocator.js';
export type { SomeIpHeader } from './ring/someip-header.js';
export { windowOf, ringViews } from './ring/ring-views.js';
export type { WindowMemory, RingDirection, RingViews } from './ring/ring-views.js';
export { RingProducer, RingSlot } from './ring/ring-producer.js';
export type { RingProducerOptions, RingWaitOptions } from './ring/ring-producer.js';
export { RingConsumer, RingRecord } from './ring/ring-consumer.js';
export type { CopiedRecord } from './ring/ring-consumer.js';
export type { RingFailureListener } from './ring/ring-failure.js';
export type { Waker } from './notify/waker.js';
export { LocalWaker } from './notify/local-waker.js';
export { EventfdWaker } from './notify/eventfd-waker.js';
export type { EventfdWakerOptions } from './notify/eventfd-waker.js';
export { RingWaiter } from './notify/ring-waiter.js';
export type { NotifyMode, RingWaiterOptions } from './notify/ring-waiter.js';
export { HeldWaker } from './notify/held-waker.js';
export { LivenessWatchdog, DEFAULT_HEARTBEAT_INTERVAL_MS } from './notify/liveness-watchdog.js';
export type { LivenessWatchdogOptions } from './notify/liveness-watchdog.js';
export { HeartbeatTimer } from './notify/heartbeat-timer.js';
export type { HeartbeatSource } from './notify/heartbeat-timer.js';
export type {
  ChannelDevice,
  DeviceFile,
  DeviceInfo,
  GrantedWindow,
} from './device/channel-device.js';
export { EmulatedDevice } from './device/emulated-device.js';
export type { EmulatedDeviceOptions } from './device/emulated-device.js';
export { Channel, dispatchKey } from './channel/channel.js';
export type { ChannelOptions, ChannelState, RecordHandler } from './channel/channel.js';
export {
  ServiceProvider,
  ServiceConsumer,
  EventPublisher,
  ReturnCode,
} from './channel/service-endpoints.js';
export type { ServiceAddress } from './channel/service-endpoints.js';
export { encodeInto, encodedLength } from './protobuf/encode-into.js';
export type { EncodeIntoOptions } from './protobuf/encode-into.js';
export { decodeFrom, decodeCopy } from './protobuf/decode-from.js';
export type { MessageCodec } from './protobuf/message-codec.js';
export { Sample } from './protobuf/sample.js';
export type { SampleOptions } from './protobuf/sample.js';
export { SampleLedger } from './protobuf/sample-ledger.js';
export type { SampleLeak, SampleLedgerOptions } from './protobuf/sample-ledger.js';
export { toOwned } from './protobuf/to-owned.js';
export { receiveSample } from './protobuf/receive-sample.js';
export type { ReceiveSampleOptions } from './protobuf/receive-sample.js';
export { KernelDevice, DEFAULT_DEVICE_PATH } from './device/kernel-device.js';
export type { Doorbells } from './doorbell/doorbells.js';
export { EmulatedDoorbells } from './doorbell/emulated-doorbells.js';
export { KernelDoorbells } from './doorbell/kernel-doorbells.js';
export type { KernelDoorbellsOptions } from './doorbell/kernel-doorbells.js';
export { DataPlane } from './channel/data-plane.js';
export type { ChannelGrantTokens, AttachOptions } from './channel/data-plane.js';
export { inspectRegion } from './region/region-inspector.js';
export type { RegionReport, InspectedChannel, RingState } from './region/region-inspector.js';
export { RingTap } from './region/ring-tap.js';
export type { TappedRecord } from './region/ring-tap.js';
