// The HTTP check after a clean rollout: the release must answer with the expected status.
export type HealthResult = { ok: boolean; attempts: number; lastStatus?: number; lastError?: string; url: string };

export async function checkHealth(url: string, expected: number, retries: number, log: (line: string) => void, pauseMs = 2000): Promise<HealthResult> {
  let lastStatus: number | undefined;
  let lastError: string | undefined;
  for (let attempt = 1; attempt <= retries; attempt++) {
    try {
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
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
