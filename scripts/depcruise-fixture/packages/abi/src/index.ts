export const ABI_VERSION = 1;
