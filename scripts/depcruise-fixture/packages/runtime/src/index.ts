import { CORE_NAME } from '@sivshm/core';

export const RUNTIME_NAME = `runtime on ${CORE_NAME}`;
