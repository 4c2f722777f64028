// Upward import: the bottom package reaching for core.
import { CORE_NAME } from '@sivshm/core';

export const upward = CORE_NAME;
