// The public surface of @sivshm/kmod, listed by hand.
export { PAGE_SIZE, RegionHeaderLayout, WindowLayout, writableRanges } from './layout.js';
export type { WindowRole } from './layout.js';
