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

// Errors.
export { TransportError } from './errors/transport-error.js';
export type { TransportErrorCode, SyscallFailure } from './errors/transport-error.js';

// Native pieces hostd, the CLI and the runtime build on.
export { mapFile, unmap, createRegionFile } from './native/map-file.js';
export type { MappedFile, MapFileOptions, CreateRegionFileOptions } from './native/map-file.js';
export { closeFd } from './native/fd.js';
export {
  sigbusGuardInfo,
  mappingLost,
  lossProbe,
  remapFile,
  absorbedFaultCount,
} from './native/sigbus-guard.js';
export type { SigbusGuardInfo } from './native/sigbus-guard.js';
export { LockFile } from './native/lock-file.js';
export { FdWatcher, FdEvents, watchFd } from './native/fd-watcher.js';
export type { FdReadyCallback } from './native/fd-watcher.js';
export { unixPeerCredentials } from './native/unix-socket.js';

// The ivshmem-doorbell server hostd runs.
export { IvshmemServer } from './ivshmem-server/ivshmem-server.js';
export type { IvshmemServerOptions, IvshmemShmSource } from './ivshmem-server/ivshmem-server.js';

// The shared region: header, channel table, windows, and their inspection.
export { RegionLayout } from './region/region-layout.js';
export type { RegionLayoutInfo } from './region/region-layout.js';
export {
  writeRegionHeader,
  readRegionHeader,
  writeControlHeader,
  readControlHeader,
  HostdHeartbeat,
} from './region/region-header.js';
export { controlPathFor, createControlFile, ControlFileReader } from './region/control-file.js';
export type { ControlFile } from './region/control-file.js';
export type { RegionHeaderInfo } from './region/region-header.js';
export { ChannelTableWriter } from './region/channel-table-writer.js';
export { ChannelTableReader } from './region/channel-table-reader.js';
export type { IndexedChannelEntry } from './region/channel-table-reader.js';
export { WindowAllocator } from './region/window-allocator.js';
export type { FreeExtent, WindowAllocatorStats } from './region/window-allocator.js';
export { inspectRegion } from './region/region-inspector.js';
export type { RegionReport, InspectedChannel, RingState } from './region/region-inspector.js';
export { RingTap } from './region/ring-tap.js';
export type { TappedRecord } from './region/ring-tap.js';
export { FollowingTap } from './region/following-tap.js';
export type { FollowedRecord, TapPlacement } from './region/following-tap.js';

// Rings: loan → write → send on the producing end, receive → release on the consuming end.
export type { SomeIpHeader } from './ring/someip-header.js';
export { windowOf, ringViews } from './ring/ring-views.js';
export type { WindowMemory, RingDirection, RingViews } from './ring/ring-views.js';
export { RingProducer } from './ring/ring-producer.js';
export type { RingSlot, RingProducerOptions, RingWaitOptions } from './ring/ring-producer.js';
export { RingConsumer } from './ring/ring-consumer.js';
export type { RingRecord, CopiedRecord } from './ring/ring-consumer.js';
export type { RingFailureListener } from './ring/ring-failure.js';
export type { Waker } from './notify/waker.js';
export type { NotifyMode } from './notify/ring-waiter.js';

// Zero-copy protobuf on the rings: encode into a loaned slot, receive a Sample.
export { encodeInto, encodedLength } from './protobuf/encode-into.js';
export type { EncodeIntoOptions } from './protobuf/encode-into.js';
export { decodeFrom } from './protobuf/decode-from.js';
export { decodeOwned } from './protobuf/decode-owned.js';
export type { MessageCodec } from './protobuf/message-codec.js';
export { receiveSample } from './protobuf/receive-sample.js';
export type { ReceiveSampleOptions } from './protobuf/receive-sample.js';
export { Sample } from './protobuf/sample.js';
export type { SampleOptions } from './protobuf/sample.js';
export { SampleLedger } from './protobuf/sample-ledger.js';
export type { SampleLeak, SampleLedgerOptions } from './protobuf/sample-ledger.js';
export { toOwned } from './protobuf/to-owned.js';

// Channel devices (grant checks before a window is mapped) and a VM's doorbells.
export type {
  ChannelDevice,
  DeviceFile,
  DeviceInfo,
  GrantedWindow,
  RevokeReceipt,
} from './device/channel-device.js';
export { assertGranuleFits } from './device/channel-device.js';
export { EmulatedDevice } from './device/emulated-device.js';
export type { EmulatedDeviceOptions } from './device/emulated-device.js';
export { KernelDevice, DEFAULT_DEVICE_PATH } from './device/kernel-device.js';
export type { Doorbells } from './doorbell/doorbells.js';
export { doorbellsFor } from './doorbell/doorbells-for.js';

// Channels, the typed service ends on them, and the data plane that owns them all.
export { Channel, dispatchKey } from './channel/channel.js';
export type {
  ChannelOptions,
  ChannelProtection,
  ChannelState,
  RecordHandler,
} from './channel/channel.js';
// Record protection of mac/aead channels: the error a refused record ends a channel with.
export { IntegrityError } from './protect/integrity-error.js';
export type { IntegrityFailure } from './protect/integrity-error.js';
export { SealedRecordLayout } from './protect/record-format.js';
export type { RecordDirection } from './protect/record-format.js';
export { ServiceProvider, ServiceConsumer, EventPublisher } from './channel/service-endpoints.js';
export type { ServiceAddress, EventPublisherOptions } from './channel/service-endpoints.js';
export { DEFAULT_MAX_CALLS_IN_FLIGHT, maxCallsInFlightProblem } from './channel/calls-in-flight.js';
export type { ServiceProviderOptions } from './channel/calls-in-flight.js';
export { DataPlane } from './channel/data-plane.js';
export type { ChannelGrantTokens, AttachOptions } from './channel/data-plane.js';
