// Test support reaching up into an app.
import { HOSTD_NAME } from '@sivshm/hostd';

export const harness = HOSTD_NAME;
