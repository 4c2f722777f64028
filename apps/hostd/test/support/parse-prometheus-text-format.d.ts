// Types of the parts of parse-prometheus-text-format (which ships none) the tests read.
declare module 'parse-prometheus-text-format' {
  interface Sample {
    readonly labels?: Record<string, string>;
    readonly value?: string;
    readonly count?: string;
    readonly sum?: string;
    readonly buckets?: Record<string, string>;
  }
  interface Family {
    readonly name: string;
    readonly help: string;
    readonly type: string;
    readonly metrics: readonly Sample[];
  }
  export default function parsePrometheusTextFormat(text: string): Family[];
}
