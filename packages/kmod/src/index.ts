// The public surface of @sivshm/kmod, listed by hand.
export { PAGE_SIZE, RegionHeaderLayout, WindowLayout, writableRanges } from './layout.js';
export type { WindowRole } from './layout.js';
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
