// The public surface of @sivshm/abi, listed by hand: byte layouts and constants shared across
// packages and with the C header of the kernel module.
export {
  PAGE_SIZE,
  PAGE_GRANULES,
  ControlFileLayout,
  RegionHeaderLayout,
  WindowLayout,
  isPageGranule,
  layoutVersionFor,
  windowLayout,
  writableRanges,
} from './region-layout.js';
export type { PageGranule, WindowLayoutOf, WindowRole } from './region-layout.js';
export {
  MIN_REGION_SIZE,
  MAX_REGION_SIZE,
  MAX_CHANNEL_CAPACITY,
  MIN_WINDOW_SIZE,
  minWindowSize,
  regionSections,
  roundUpToPage,
} from './region-budget.js';
export type { RegionSections } from './region-budget.js';
export {
  ChannelEntryLayout,
  ChannelEntryState,
  CHANNEL_STATE_NAMES,
} from './channel-table-layout.js';
export type {
  ChannelEntry,
  ChannelEntryStateName,
  ChannelIdentity,
} from './channel-table-layout.js';
export {
  RingPageLayout,
  NotifyModeCode,
  notifyModeName,
  RecordLayout,
  MIN_RING_DATA_SIZE,
  MAX_RING_DATA_SIZE,
  maxPayloadFor,
  recordSize,
} from './ring-layout.js';
export {
  SOMEIP_HEADER_SIZE,
  SomeIpHeaderOffset,
  SOMEIP_PROTOCOL_VERSION,
  SomeIpMessageType,
  SOMEIP_E_OK,
  SOMEIP_TP_FLAG,
  SOMEIP_TP_HEADER_SIZE,
  SOMEIP_TP_UNIT,
} from './someip-header.js';
export {
  GrantLayout,
  RevokeLayout,
  TOKEN_TAG_SIZE,
  GRANT_KEY_SIZE,
  GRANT_TAG_LABEL,
  REVOKE_TAG_LABEL,
  REVOKE_RECEIPT_LABEL,
  REVOKE_RECEIPT_SIZE,
  GrantRole,
  GrantPerm,
  ChannelModeCode,
  DoorbellRoute,
  SERIAL_WINDOW,
} from './grant-layout.js';
export type { GrantRoleName, ChannelMode } from './grant-layout.js';
export {
  SIVSHM_IOCTL_MAGIC,
  Ioc,
  InfoLayout,
  InfoFlag,
  NonceLayout,
  SetKeyLayout,
  GrantReqLayout,
  RevokeReqLayout,
  DoorbellLayout,
  EventLayout,
  SivshmIoctl,
  SivshmVerdict,
  REGION_HEADER_STRUCT_SIZE,
} from './uapi.js';
export type { SivshmVerdictName } from './uapi.js';
export {
  ChannelDeviceHeaderLayout,
  GrantTarget,
  GrantTargetLayout,
  DEVICE_MAP_BASE,
  MIN_CHANNEL_DEVICE_SIZE,
  channelDeviceSize,
  readChannelDeviceHeader,
  writeChannelDeviceHeader,
} from './channel-device-layout.js';
export type { ChannelDeviceHeader, GrantTargetName } from './channel-device-layout.js';
