import { RUNTIME_NAME } from '@sivshm/runtime';

export const HOSTD_NAME = `hostd beside ${RUNTIME_NAME}`;
