#!/usr/bin/env node
// Entry of the `sivshm-hostd` binary: the compiled daemon (built by `npm ci` / `npm run build`).
import '../dist/src/bin.js';
