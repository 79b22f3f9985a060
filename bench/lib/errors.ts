/**
 * Every failure the benchmark harness reports, each with a stable code so a caller (or a
 * test) can tell a bad argument from a server that died mid-run.
 */
export const BenchErrorCode = {
  BAD_ARGUMENT: 'BENCH_BAD_ARGUMENT',
  UNKNOWN_BENCHMARK: 'BENCH_UNKNOWN_BENCHMARK',
  PROCESS_EXITED: 'BENCH_PROCESS_EXITED',
  TIMEOUT: 'BENCH_TIMEOUT',
  CLIENT_FAILED: 'BENCH_CLIENT_FAILED',
  PROTOCOL: 'BENCH_PROTOCOL',
} as const;

export type BenchErrorCodeValue = (typeof BenchErrorCode)[keyof typeof BenchErrorCode];

export class BenchError extends Error {
  readonly code: BenchErrorCodeValue;

  constructor(code: BenchErrorCodeValue, message: string, options?: ErrorOptions) {
    super(`${code}: ${message}`, options);
    this.name = 'BenchError';
    this.code = code;
  }
}
