// Mocha reporter: the normal `spec` output, then one closing line `N passed, N failed,
// N skipped` that CI reads (mocha's own "N passing" summary is not read by CI).
'use strict';
const Mocha = require('mocha');

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats ?? {};
      // Spec registered its epilogue on EVENT_RUN_END first, so this line comes after it.
      process.stdout.write(
        `${s.passes ?? 0} passed, ${s.failures ?? 0} failed, ${s.pending ?? 0} skipped\n`,
      );
    });
  }
}

module.exports = SummaryReporter;
