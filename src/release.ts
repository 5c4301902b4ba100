// A release in progress, once validated and built: it holds the namespace's deploy lock, records
// what ran before (in the cluster too, for a run that dies), applies the phases in order, watches,
// checks health and soaks; on failure or cancellation it explains why and restores what ran before.
import { checkHealth } from './health/http.js';
import type { Inputs } from './inputs.js';
import { applyServerSide } from './kube/apply.js';
import { KubectlError, type KubeClient } from './kube/client.js';
import { objectId, type KubeObject } from './kube/objects.js';
import { ingressUrl } from './manifests/objects.js';
import { isMigrationJob, isWatched, planPhases, workloadsOf, type Gate, type Phase } from './manifests/plan.js';
import { bestEffort, type Reporter } from './report/reporter.js';
import { explain } from './report/summary.js';
import type { ReleaseResult, Status, WorkloadRow } from './result.js';
import { diagnose } from './rollout/diagnose.js';
import { rollBack } from './rollout/rollback.js';
import { captureObjects, type ObjectState } from './rollout/restore.js';
import { imagesOf, liveGenerations, snapshot, specMoved, type Snapshot } from './rollout/snapshot.js';
import type { PodFailure } from './rollout/verdict.js';
import { gateState } from './rollout/gate.js';
import { watchRollout, type Judgement, type LiveView, type Outcome } from './rollout/watch.js';
import { replaceJobs } from './rollout/jobs.js';
import { runsOnce, workloadId, type WorkloadRef } from './rollout/workloads.js';
import { DeployLock, type Holder } from './state/lock.js';
import { beforeOf, readRecord, writeRecord, type RecordState, type ReleaseRecord } from './state/record.js';

export type ReleaseTools = { kube: KubeClient; reporter: Reporter; signal?: AbortSignal };
export type ReleaseHooks = {
  /** The "before" is known and recorded: from here on a run that dies must be rolled back. */
  started?: (state: { namespace: string; before: Snapshot[]; objects: ObjectState[]; holder: Holder }) => void;
};

type Failure = { reason: string; outcome?: Outcome };

// Workloads return by their revision history; the Namespace holds the lock and the record.
const isRestoredObject = (o: KubeObject) => o.kind !== 'Namespace' && !isWatched(o);

/** A phase's rollout, watched in the background from its apply until the release is decided. */
type Rollout = {
  outcome: Promise<Outcome>;
  /** Its new pods Ready, or nothing to roll (the apply changed none of its workloads). */
  ready: Promise<void>;
  /** The migration ran for this release, or nothing changed. */
  migrated: Promise<void>;
};

const NOTHING_TO_WATCH: Rollout = { outcome: Promise.resolve({ ok: true, verdicts: new Map() }), ready: Promise.resolve(), migrated: Promise.resolve() };

const GATE_HELD: Record<Exclude<Gate, 'stored'>, string> = { ready: 'new pods Ready (or unchanged)', migrated: 'migration completed (or unchanged)' };

/** Opens once, with a value kept for those who look after. */
type Latch<T> = { open(value: T): void; opened: Promise<T>; value?: T };
function latch<T>(): Latch<T> {
  let resolve!: (value: T) => void;
  const l: Latch<T> = {
    opened: new Promise<T>((r) => (resolve = r)),
    open(value: T) {
      if ('value' in l) return;
      l.value = value;
      resolve(value);
    },
  };
  return l;
}

const refsOf = (phase: Phase): WorkloadRef[] => workloadsOf(phase).map((w) => ({ kind: w.kind, name: w.metadata.name }));

function failuresOf(outcome: Outcome): { workload: string; failure: PodFailure }[] {
  return [...outcome.verdicts.entries()].flatMap(([workload, v]) => (v.state === 'failed' ? v.failures.map((failure) => ({ workload, failure })) : []));
}

function outcomeFailure(outcome: Outcome, timeoutSeconds: number, prefix = ''): Failure {
  const first = failuresOf(outcome)[0];
  const what = first ? `${first.workload}: ${first.failure.reason}: ${first.failure.message}` : 'the release degraded';
  const reason = outcome.cause === 'timeout' ? `not Ready within ${timeoutSeconds}s: ${first?.failure.reason ?? 'timeout'}` : what;
  return { reason: `${prefix}${reason}`, outcome };
}

/** One row per workload for the summary, with the revision it ran before. */
function workloadRows(workloads: KubeObject[], before: Snapshot[], pinned: string): Map<string, WorkloadRow> {
  const rows = new Map<string, WorkloadRow>(
    before.map((s) => [workloadId(s), { workload: workloadId(s), image: '', before: s.revision, verdict: 'not reached' }]),
  );
  for (const w of workloads) {
    const mine = imagesOf(w)
      .filter((i) => i.endsWith(`=${pinned}`))
      .map((i) => i.split('=')[0]);
    rows.get(workloadId({ kind: w.kind, name: w.metadata.name }))!.image = mine.join(', ') || 'unchanged';
  }
  return rows;
}

/** What the record says of a finished release, and which revisions are now known good. */
function recordOutcome(
  status: Status,
  before: Snapshot[],
  after: Snapshot[],
  restored: boolean,
  previous?: Snapshot[],
): { state: RecordState; lastGood?: Snapshot[] } {
  if (status === 'deployed') return { state: 'deployed', lastGood: after };
  const state: RecordState = status === 'rolled-back' ? 'rolled-back' : status === 'cancelled' ? 'cancelled' : 'failed';
  return { state, lastGood: restored ? before : previous };
}

/** A release in progress: what ran before, the phases, the rollout budget, and the summary rows. */
export class Release {
  private readonly deadline: number;
  /** The workloads this release moved: the ones watched, soaked and judged. */
  private readonly watched: WorkloadRef[] = [];
  /** The Jobs deleted to run anew: new objects, whatever their generation says. */
  private readonly replaced = new Set<string>();

  private constructor(
    private readonly inputs: Inputs,
    private readonly tools: ReleaseTools,
    private readonly namespace: string,
    private readonly phases: Phase[],
    private readonly before: Snapshot[],
    private readonly objectsBefore: ObjectState[],
    private readonly rows: Map<string, WorkloadRow>,
    private readonly base: ReleaseResult,
    private readonly lock: DeployLock,
    private readonly record: ReleaseRecord,
  ) {
    // The rollout budget starts now: building and validating do not use it up.
    this.deadline = Date.now() + inputs.timeoutSeconds * 1000;
  }

  /**
   * Takes the namespace's deploy lock, then records the live revision of every workload about to
   * change — or, after a run that died mid-release, the revisions that run found — before anything
   * else is applied. On a first install the Namespace is applied first: the lock lives in it.
   */
  static async begin(
    inputs: Inputs,
    tools: ReleaseTools,
    target: { namespace: string; namespaceExists: boolean },
    objects: KubeObject[],
    base: ReleaseResult,
    holder: Holder,
    hooks: ReleaseHooks = {},
  ): Promise<Release> {
    const { kube, reporter } = tools;
    const { namespace } = target;
    let phases = planPhases(objects);
    if (!target.namespaceExists) {
      const ns = phases.find((p) => p.name === 'namespace')?.objects ?? [];
      reporter.info(await applyServerSide(kube, namespace, ns, inputs.fieldManager));
      // Applied: its phase would only apply it again.
      phases = phases.filter((p) => p.name !== 'namespace');
    }
    const lock = await reporter.group(`deploy lock of ${namespace}`, () =>
      DeployLock.acquire(kube, namespace, holder, {
        timeoutMs: inputs.lockTimeoutSeconds * 1000,
        log: (l) => reporter.info(l),
        warn: (l) => reporter.warning(l),
        signal: tools.signal,
      }),
    );
    try {
      const workloads = phases.flatMap(workloadsOf);
      const [live, objectsBefore, previous] = await Promise.all([
        snapshot(
          kube,
          namespace,
          workloads.map((w) => ({ kind: w.kind, name: w.metadata.name })),
        ),
        captureObjects(kube, namespace, objects.filter(isRestoredObject), inputs.fieldManager),
        readRecord(kube, namespace),
      ]);
      const { before, unfinished } = beforeOf(previous, live);
      if (unfinished) {
        reporter.warning(
          `the release by ${unfinished.run}${unfinished.runUrl ? ` (${unfinished.runUrl})` : ''}, started ${unfinished.startedAt}, never finished: ` +
            'what it left live is not taken for the release before this one; a rollback returns to the release before it',
        );
      }
      const record: ReleaseRecord = {
        state: 'in-progress',
        run: holder.id,
        runUrl: holder.url,
        image: base.image,
        startedAt: new Date().toISOString(),
        before,
        lastGood: previous?.lastGood,
      };
      await writeRecord(kube, namespace, record, inputs.fieldManager);
      // Secrets stay in this process: the post step's state is a file on the runner.
      hooks.started?.({ namespace, before, objects: objectsBefore.filter((o) => o.kind !== 'Secret'), holder });
      return new Release(inputs, tools, namespace, phases, before, objectsBefore, workloadRows(workloads, before, base.image ?? ''), base, lock, record);
    } catch (err) {
      await lock.release().catch(() => undefined);
      throw err;
    }
  }

  /** How strictly new pods are judged, as the inputs ask. */
  private get judgement(): Judgement {
    return { failuresAllowed: this.inputs.failuresAllowed, stableSeconds: this.inputs.stableSeconds };
  }

  private get cancelled(): boolean {
    return this.tools.signal?.aborted ?? false;
  }

  /**
   * Each phase applied once the gate of the one before holds (see plan.ts), every phase's rollout
   * watched from its apply until the release is decided: a failure anywhere fails the release.
   */
  async applyPhases(): Promise<Failure | undefined> {
    const rollouts: Rollout[] = [];
    const failed = latch<Failure>();
    // Ends the watches still running once the release is decided.
    const decided = new AbortController();
    try {
      for (const phase of this.phases) {
        const failure = failed.value ?? (await this.apply(phase));
        if (failure) return failure;
        rollouts.push(this.watch(phase, await this.changedWorkloads(phase), decided.signal, failed));
        await this.passGate(phase, rollouts, failed);
        if (failed.value) return failed.value;
      }
      await Promise.race([Promise.all(rollouts.map((r) => r.outcome)), failed.opened]);
      return failed.value;
    } finally {
      decided.abort();
    }
  }

  /**
   * The phase's workloads whose spec this apply moved; the others are reported unchanged and never
   * judged (an OnDelete StatefulSet, or one whose template did not change, has nothing to roll out).
   */
  private async changedWorkloads(phase: Phase): Promise<WorkloadRef[]> {
    const targets = refsOf(phase);
    if (!targets.length) return [];
    const before = new Map(this.before.map((s) => [workloadId(s), s]));
    // A workload that did not exist before moved by definition: no need to ask.
    const existed = targets.filter((t) => before.get(workloadId(t))?.existed);
    const generations = existed.length ? await liveGenerations(this.tools.kube, this.namespace, existed).catch(() => undefined) : new Map();
    const replaced = (t: WorkloadRef) => t.kind === 'Job' && this.replaced.has(t.name);
    const changed = targets.filter((t) => !generations || replaced(t) || specMoved(before.get(workloadId(t)), generations.get(workloadId(t))));
    for (const t of targets.filter((t) => !changed.includes(t))) {
      this.rows.get(workloadId(t))!.verdict = 'unchanged';
      this.tools.reporter.info(`${workloadId(t)} unchanged: its spec did not move, so there is nothing to roll out`);
    }
    this.watched.push(...changed);
    return changed;
  }

  private apply(phase: Phase): Promise<Failure | undefined> {
    const { kube, reporter } = this.tools;
    if (this.cancelled) return Promise.resolve({ reason: 'cancelled' });
    return reporter.group(`apply ${phase.name}: ${phase.objects.map(objectId).join(', ')}`, async () => {
      try {
        const jobs = phase.objects.filter(isMigrationJob);
        for (const name of await replaceJobs(kube, this.namespace, jobs, this.inputs.fieldManager)) {
          this.replaced.add(name);
          reporter.info(`Job/${name} deleted, to run anew: it failed before, or it changed and a Job's template cannot change`);
        }
        reporter.info(await applyServerSide(kube, this.namespace, phase.objects, this.inputs.fieldManager));
        return undefined;
      } catch (err) {
        // Earlier phases are in: a rejected apply is a failed release like any other.
        return { reason: `apply ${phase.name} failed: ${err instanceof KubectlError ? err.said : (err as Error).message}` };
      }
    });
  }

  /** Until the phase's gate holds, or a rollout applied so far fails. */
  private async passGate(phase: Phase, rollouts: Rollout[], failed: Latch<Failure>): Promise<void> {
    if (phase.gate === 'stored') return;
    const started = Date.now();
    const holds = phase.gate === 'migrated' ? rollouts[rollouts.length - 1].migrated : Promise.all(rollouts.map((r) => r.ready));
    await Promise.race([holds, failed.opened]);
    if (!failed.value) this.tools.reporter.info(`${phase.name}: ${GATE_HELD[phase.gate]} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** Watches the phase's workloads until Ready, in the background; its gate follows what the watch sees. */
  private watch(phase: Phase, targets: WorkloadRef[], decided: AbortSignal, failed: Latch<Failure>): Rollout {
    if (!targets.length) return NOTHING_TO_WATCH;
    const { kube, reporter } = this.tools;
    const signal = this.tools.signal ? AbortSignal.any([this.tools.signal, decided]) : decided;
    const started = Date.now();
    const ready = latch<void>();
    const migrated = latch<void>();
    const observe = (view: LiveView) => {
      const state = gateState(targets, view);
      if (state.ready) ready.open();
      if (state.migrated) migrated.open();
    };
    const opts = {
      timeoutMs: Math.max(1000, this.deadline - Date.now()),
      log: (l: string) => reporter.info(`[${phase.name}] ${l}`),
      signal,
      observe,
      judgement: this.judgement,
    };
    reporter.info(`watching ${phase.name}: ${targets.map(workloadId).join(', ')}`);
    const outcome = watchRollout(kube, this.namespace, targets, opts).then((o) => {
      // A watch stopped because the release was decided elsewhere says nothing of its workloads.
      if (decided.aborted && o.cause === 'cancelled' && !this.cancelled) return o;
      this.recordRows(targets, o, started);
      if (o.ok) [ready, migrated].forEach((l) => l.open());
      else failed.open(outcomeFailure(o, this.inputs.timeoutSeconds));
      return o;
    });
    return { outcome, ready: ready.opened, migrated: migrated.opened };
  }

  private recordRows(targets: WorkloadRef[], outcome: Outcome, started: number): void {
    for (const t of targets) {
      const v = outcome.verdicts.get(workloadId(t));
      const row = this.rows.get(workloadId(t))!;
      row.seconds = (Date.now() - started) / 1000;
      row.verdict = v?.state === 'ready' ? 'ready' : (v?.message ?? 'failed');
    }
  }

  async checkHealth(): Promise<Failure | undefined> {
    const { healthCheckUrl: url, healthCheckStatus: want, healthCheckRetries: retries } = this.inputs;
    if (!url || this.cancelled) return this.cancelled ? { reason: 'cancelled' } : undefined;
    const { reporter } = this.tools;
    const { signal } = this.tools;
    const health = await reporter.group('health check', () => checkHealth(url, want, retries, (l) => reporter.info(l), { signal }));
    if (health.ok) return undefined;
    if (this.cancelled) return { reason: 'cancelled' };
    return {
      reason: `health check ${health.url} failed after ${health.attempts} attempts: ${health.lastError ?? `status ${health.lastStatus}, want ${want}`}`,
    };
  }

  /** After Ready, keeps watching for restarts and readiness flaps. */
  async soak(): Promise<Failure | undefined> {
    const seconds = this.inputs.soakSeconds;
    if (seconds <= 0) return undefined;
    const { kube, reporter, signal } = this.tools;
    // A Job ran to completion: it has nothing left to soak.
    const targets = this.watched.filter((w) => !runsOnce(w.kind));
    if (!targets.length) return undefined;
    const outcome = await reporter.group(`soak ${seconds}s`, () =>
      watchRollout(kube, this.namespace, targets, {
        timeoutMs: (seconds + 120) * 1000,
        soakMs: seconds * 1000,
        log: (l) => reporter.info(l),
        signal,
        judgement: this.judgement,
      }),
    );
    return outcome.ok ? undefined : outcomeFailure(outcome, this.inputs.timeoutSeconds, 'while soaking: ');
  }

  /**
   * Explains the failure, then returns every workload that moved to its recorded revision. A
   * cancelled run only starts the undo (the runner kills it seconds later): the post step checks it.
   */
  async fail(failure: Failure): Promise<ReleaseResult> {
    const { kube, reporter } = this.tools;
    const cancelled = this.cancelled;
    const reason = cancelled ? 'the run was cancelled' : failure.reason;
    reporter.error(reason, cancelled ? 'release cancelled' : 'release failed');
    const diagnoses = failure.outcome && !cancelled ? await diagnose(kube, this.namespace, failuresOf(failure.outcome)) : [];
    for (const d of diagnoses) reporter.error(explain(d).join('\n'), `${d.workload}: ${d.reason}`);
    const detectionSeconds = failure.outcome?.firstDoomedPodAt ? (Date.now() - failure.outcome.firstDoomedPodAt) / 1000 : undefined;
    const failed: ReleaseResult = { ...this.base, status: cancelled ? 'cancelled' : 'failed', failureReason: reason, diagnoses, detectionSeconds };
    if (!this.inputs.rollback) {
      reporter.warning('rollback is off: the failed release stays in place');
      return this.finish(failed);
    }
    const { steps, healthy } = await reporter.group('roll back', () =>
      rollBack(kube, this.namespace, this.before, {
        timeoutMs: Math.max(60_000, this.inputs.timeoutSeconds * 1000),
        fieldManager: this.inputs.fieldManager,
        reporter,
        wait: !cancelled,
        objects: this.objectsBefore,
        policy: { deleteCreated: this.inputs.deleteFailedInstall },
      }),
    );
    if (steps.some((s) => s.action === 'leave' && s.reason.startsWith('first install'))) {
      reporter.warning('first install: nothing ran before, so the resources stay for debugging (delete-failed-install: true deletes them)');
    }
    reporter.info('the database schema stays migrated: a rollback never runs down-migrations');
    const done = steps.filter((s) => s.action === 'undo' || s.action === 'restore' || s.action === 'delete');
    const allDone = !done.some((s) => s.error);
    const restored = done.length > 0 && allDone && healthy;
    const status: Status = cancelled ? 'cancelled' : restored ? 'rolled-back' : 'failed';
    const why = done.length && !restored && !cancelled ? `; ${allDone ? 'the restored release is not healthy' : 'the rollback did not complete'}` : '';
    const rolledBack = done.some((s) => !s.error);
    const url = restored ? this.restoredUrl() : failed.url;
    return this.finish({ ...failed, status, rolledBack, url, failureReason: `${reason}${why}`, rollback: steps }, restored);
  }

  /** Where the restored release is served: the health-check URL, else the host its Ingress had before. */
  private restoredUrl(): string | undefined {
    return this.inputs.healthCheckUrl ?? ingressUrl(this.objectsBefore.flatMap((s) => (s.applied ? [s.applied] : [])));
  }

  /** The result, with every workload's revision as it is now; the record updated and the lock freed. */
  async finish(result: ReleaseResult, restored = false): Promise<ReleaseResult> {
    const { kube, reporter } = this.tools;
    try {
      const now = await snapshot(kube, this.namespace, this.before).catch(() => undefined);
      const after = new Map((now ?? []).map((s) => [workloadId(s), s.revision]));
      const rows = [...this.rows.values()].map((row) => ({ ...row, after: after.get(row.workload) }));
      if (result.status === 'deployed') for (const row of rows) if (row.verdict === 'not reached') row.verdict = 'ready';
      const outcome = recordOutcome(result.status, this.before, now ?? this.before, restored, this.record.lastGood);
      await bestEffort(reporter, 'writing the release record', () =>
        writeRecord(kube, this.namespace, { ...this.record, ...outcome, finishedAt: new Date().toISOString() }, this.inputs.fieldManager),
      );
      return { ...result, rows };
    } finally {
      await bestEffort(reporter, 'releasing the deploy lock', () => this.lock.release());
    }
  }
}
