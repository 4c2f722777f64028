// Downward import by package name: allowed.
import { ABI_VERSION } from '@sivshm/abi';

export const CORE_NAME = `core/${ABI_VERSION}`;
