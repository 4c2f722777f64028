#!/usr/bin/env node
// Entry of the `sivshm-gateway` binary: the compiled gateway (built by `npm ci` / `npm run build`).
import '../dist/src/bin.js';
