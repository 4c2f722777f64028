// One app importing another.
import { HOSTD_NAME } from '@sivshm/hostd';

export const app = HOSTD_NAME;
