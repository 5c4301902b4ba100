// The HTTP check after a clean rollout: the release must answer with the expected status.
export type HealthResult = { ok: boolean; attempts: number; lastStatus?: number; lastError?: string; url: string };

/** Stops with the run: a cancelled run does not wait out its health check. */
export async function checkHealth(
  url: string,
  expected: number,
  retries: number,
  log: (line: string) => void,
  opts: { pauseMs?: number; signal?: AbortSignal } = {},
): Promise<HealthResult> {
  let lastStatus: number | undefined;
  let lastError: string | undefined;
  const { pauseMs = 2000, signal } = opts;
  for (let attempt = 1; attempt <= retries && !signal?.aborted; attempt++) {
    try {
      const timeout = AbortSignal.timeout(10_000);
      const res = await fetch(url, { redirect: 'manual', signal: signal ? AbortSignal.any([timeout, signal]) : timeout });
      await res.body?.cancel();
      lastStatus = res.status;
      lastError = undefined;
      if (res.status === expected) {
        log(`health check ${url}: ${res.status} (attempt ${attempt})`);
        return { ok: true, attempts: attempt, lastStatus, url };
      }
      log(`health check ${url}: got ${res.status}, want ${expected} (attempt ${attempt} of ${retries})`);
    } catch (err) {
      lastError = (err as Error).message;
      log(`health check ${url}: ${lastError} (attempt ${attempt} of ${retries})`);
    }
    if (attempt < retries) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return { ok: false, attempts: retries, lastStatus, lastError, url };
}
