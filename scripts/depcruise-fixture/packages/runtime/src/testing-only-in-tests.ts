// Shipped code importing the private test-support workspace.
import { deployment } from '@sivshm/testing';

export const shipped = deployment;
