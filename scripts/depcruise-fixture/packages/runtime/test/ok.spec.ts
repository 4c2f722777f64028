// A test may use @sivshm/testing and its own package's sources.
import { deployment } from '@sivshm/testing';
import { RUNTIME_NAME } from '../src/index.js';

export const checked = [deployment, RUNTIME_NAME];
