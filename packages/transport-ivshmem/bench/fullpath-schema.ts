// The protobuf message both processes of the full-path benchmark echo.
export const SCHEMA =
  'syntax = "proto3"; package b; message Echo { uint32 seq = 1; bytes data = 2; }';

/**
 * Liveness bound of the benchmark's channels. A spinning peer on a heavily shared 2-core
 * machine can be scheduled out for longer than the default second; the benchmark measures
 * latency, so a stall shows in p99 instead of ending the run with ERR_PEER_GONE.
 */
export const BENCH_PEER_TIMEOUT_MS = 30_000;
