// Which kubectl failures are worth another try (the API server or the network blinked), and the
// bounded back-off between tries. Pure: the edge decides what to retry with it.

// Connection failures, timeouts, throttling, 5xx answers and etcd leader changes: none of them
// says anything about the request itself.
const TRANSIENT = new RegExp(
  [
    'Unable to connect to the server',
    'connection refused',
    'to the server [^ ]+ was refused',
    'connection reset by peer',
    'i/o timeout',
    'TLS handshake timeout',
    'unexpected EOF',
    ': EOF',
    'http2: client connection lost',
    'context deadline exceeded',
    'Client\\.Timeout exceeded',
    'the server is currently unable to handle the request',
    'ServiceUnavailable',
    'Too Many Requests',
    'the server has received too many requests',
    'Timeout: request did not complete',
    'the server was unable to return a response in the time allotted',
    'Internal error occurred',
    'etcdserver: leader changed',
    'etcdserver: request timed out',
    'etcdserver: no leader',
    'apiserver is shutting down',
    'net/http: request canceled',
    'has prevented the request from succeeding',
  ].join('|'),
  'i',
);

/** kubectl's stderr without client-go's own log lines (klog: `E0523 10:00:00.000000 ...`). */
export const withoutKlog = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => !/^[IWEF]\d{4} \d\d:\d\d:\d\d/.test(l))
    .join('\n');

/**
 * Whether kubectl's error is worth another try. Only its own error counts: discovery noise
 * about an unavailable APIService (metrics-server) says nothing about the request.
 */
export const isTransient = (stderr: string) => TRANSIENT.test(withoutKlog(stderr));

export type RetryPolicy = {
  /** How long transient failures are retried, from the first try. */
  budgetMs: number;
  firstPauseMs: number;
  maxPauseMs: number;
};

/** Enough to ride out an API server restart (about 10 s here) without waiting out a real outage. */
export const DEFAULT_RETRY: RetryPolicy = { budgetMs: 30_000, firstPauseMs: 500, maxPauseMs: 4_000 };

/** The pause before try `n` (1-based for the first retry), or undefined when the budget is spent. */
export function nextPause(policy: RetryPolicy, retry: number, elapsedMs: number): number | undefined {
  const pause = Math.min(policy.maxPauseMs, policy.firstPauseMs * 2 ** (retry - 1));
  return elapsedMs + pause > policy.budgetMs ? undefined : pause;
}
