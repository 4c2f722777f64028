// Downward, but by a relative path into another workspace instead of its package name.
import { ABI_VERSION } from '../../abi/src/index.js';

export const sideways = ABI_VERSION;
