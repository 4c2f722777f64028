// Shared mocha settings. Specs are compiled by `tsc -b` into each package's dist-test/ (the test build,
// tsconfig.test.json) and run from there; the reporter prints mocha's spec output and then the line CI reads.
'use strict';
const path = require('node:path');

module.exports = {
  reporter: path.join(__dirname, 'scripts', 'summary-reporter.cjs'),
  timeout: 20000,
  slow: 2000,
  exit: true,
};
