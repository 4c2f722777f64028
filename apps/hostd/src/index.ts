// The public surface of @sivshm/hostd, listed by hand.
export { Hostd } from './hostd.js';
export type { HostdOptions } from './hostd.js';
export { HostdError } from './errors/hostd-error.js';
export type { HostdErrorCode } from './errors/hostd-error.js';
export { parseHostdArgs, HOSTD_USAGE } from './hostd-args.js';
export type { HostdArgs } from './hostd-args.js';
export { JsonLogger, LOG_LEVELS } from './log/logger.js';
export type { LogLevel, LogFields } from './log/logger.js';
export type { StatusDocument } from './status/status-server.js';
export type { CloseReason, ChannelRecord } from './channels/channel-lifecycle.js';
