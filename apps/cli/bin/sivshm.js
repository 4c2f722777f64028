#!/usr/bin/env node
// Entry of the `sivshm` binary: the compiled CLI (built by `npm ci` / `npm run build`).
import '../dist/src/bin.js';
