// The failure a container shows is chosen by labels in its image's config, so a real image
// built with `--label` (or a build-arg feeding LABEL) carries it through the real registry.
const LABEL = 'io.medaudit.sim/behaviour';
const MESSAGE_LABEL = 'io.medaudit.sim/message';
const CRASH_AFTER_LABEL = 'io.medaudit.sim/crash-after';
const CRASHES_LABEL = 'io.medaudit.sim/crashes';

export type Behaviour = {
  /** How the main containers end, if they do: exit 1 (Error) or the kernel's OOM kill (137). */
  exit?: { code: number; reason: 'Error' | 'OOMKilled' };
  /** Seconds a main container runs before it exits. */
  exitAfter: number;
  /** Readiness probes never pass. */
  neverReady: boolean;
  /** Init containers (the migration) exit 1. */
  initFails: boolean;
  /** The error line the failing process prints last. */
  message?: string;
  /** Only the first `crashes` starts of each main container exit; later starts run healthy. */
  crashes?: number;
};

export function behaviourOf(labels: Record<string, string>): Behaviour {
  const name = labels[LABEL] ?? 'healthy';
  const after = Number(labels[CRASH_AFTER_LABEL]);
  const message = labels[MESSAGE_LABEL] || undefined;
  const base: Behaviour = { exitAfter: Number.isFinite(after) && after > 0 ? after : 1, neverReady: false, initFails: false, message };
  switch (name) {
    case 'crash':
      return { ...base, exit: { code: 1, reason: 'Error' } };
    case 'crash-late':
      // Passes readiness first, then dies: what only a soak window catches.
      return { ...base, exit: { code: 1, reason: 'Error' }, exitAfter: Number.isFinite(after) && after > 0 ? after : 8 };
    case 'crash-first': {
      // A flaky start (the database not up yet, say): N crashes, then healthy for good.
      const n = labels[CRASHES_LABEL] ? Number(labels[CRASHES_LABEL]) : NaN;
      return { ...base, exit: { code: 1, reason: 'Error' }, crashes: Number.isInteger(n) && n >= 0 ? n : 1 };
    }
    case 'oom':
      return { ...base, exit: { code: 137, reason: 'OOMKilled' } };
    case 'never-ready':
      return { ...base, neverReady: true };
    case 'migration-fail':
      return { ...base, initFails: true };
    default:
      return base;
  }
}

/** What one start of a main container does: crash-first exits only while its crashes last. */
export function forStart(b: Behaviour, restartCount: number): Behaviour {
  return b.crashes !== undefined && restartCount >= b.crashes ? { ...b, exit: undefined, crashes: undefined } : b;
}

/** Log lines a container prints in one run; the last lines of a failure say why. */
export function logLines(container: string, image: string, b: Behaviour, init: boolean): string[] {
  const start = [`starting ${container} from ${image}`];
  if (init) {
    const head = [
      ...start,
      'INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.',
      'INFO  [alembic.runtime.migration] Will assume transactional DDL.',
    ];
    if (!b.initFails) return [...head, 'INFO  [alembic.runtime.migration] Running upgrade  -> 0001_initial, initial schema'];
    return [
      ...head,
      'INFO  [alembic.runtime.migration] Running upgrade 0007_audits -> 0008_findings, add findings',
      'Traceback (most recent call last):',
      '  File "/app/.venv/bin/alembic", line 8, in <module>',
      `sqlalchemy.exc.ProgrammingError: ${b.message ?? '(psycopg.errors.DuplicateTable) relation "findings" already exists'}`,
    ];
  }
  const up = [...start, 'INFO:     Started server process [1]', 'INFO:     Waiting for application startup.', 'INFO:     Application startup complete.'];
  if (b.exit?.reason === 'OOMKilled') return [...up, `WARNING:  memory usage climbing: ${b.message ?? 'loading the NLP model into memory'}`];
  if (b.exit)
    return [
      ...up,
      'Traceback (most recent call last):',
      '  File "/app/main.py", line 42, in startup',
      `RuntimeError: ${b.message ?? 'could not connect to the NLP service'}`,
    ];
  return [...up, 'INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)'];
}
