/**
 * One of an entry's two option runs: options `[index, index + count)` of the message's
 * options array (SD-336..SD-348). An empty run has `count` 0 and, when sent, `index` 0.
 */
export interface OptionRun {
  readonly index: number;
  readonly count: number;
}

/** The empty run. */
export const NO_OPTIONS: OptionRun = Object.freeze({ index: 0, count: 0 });
