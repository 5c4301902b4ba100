// Returning to exactly what ran before: a plan from the snapshots taken before and after (pure),
// then its execution with `kubectl rollout undo --to-revision`, never a blind undo.
import { KubectlError, type KubeClient } from '../kube/client.js';
import { conditionOf, ownedBy, type KubeObject, type List, type Pod, type StatefulSet } from '../kube/objects.js';
import { isTransient } from '../kube/retry.js';
import { apiVersionOf, collectionPath } from '../kube/resources.js';
import type { Reporter } from '../report/reporter.js';
import { describeStep } from '../report/summary.js';
import { historyOf, snapshot, type Snapshot } from './snapshot.js';
import { managedFields, reclaimAfterUndo, type ManagedFieldsEntry } from './ownership.js';
import { liveObjects, planRestore, restoreObjects, type ObjectState, type RestoreStep } from './restore.js';
import { watchRollout } from './watch.js';
import { runsOnce, workloadId, workloadKind } from './workloads.js';

export type UndoStep = {
  action: 'undo';
  kind: string;
  name: string;
  toRevision: number;
  fromRevision?: number;
  /** The recorded template's identity: the number to undo to is looked up by it when undoing. */
  template?: string;
  /** Already back on the recorded template (an earlier undo did it): nothing to undo. */
  already?: boolean;
  error?: string;
};
export type RollbackStep =
  UndoStep | { action: 'keep'; kind: string; name: string; reason: string } | { action: 'leave'; kind: string; name: string; reason: string } | RestoreStep;

/** What a failed first install does with what it created: kept for debugging, or deleted (Helm's atomic). */
export type InstallPolicy = { deleteCreated: boolean };

/** Nothing of the release ran before it: a first install. */
export const isFirstInstall = (before: Snapshot[]) => before.every((s) => !s.existed);

/**
 * One step per workload: undo where its spec moved since the snapshot (by generation, so a
 * change the controller has not acted on yet counts too); keep where it did not (a config-only
 * deploy, or a failure before this workload was reached); delete what the release added, except
 * on a first install, where it stays for debugging unless the policy asks to delete it. A Job
 * (the migration) is left as it is, unless a failed first install is to be deleted whole.
 * Without a fresh snapshot (the API failed), every workload with a revision is undone: an undo to
 * the revision already live changes nothing.
 */
export function planRollback(before: Snapshot[], after: Snapshot[] | undefined, policy: InstallPolicy = { deleteCreated: false }): RollbackStep[] {
  const now = new Map((after ?? []).map((s) => [workloadId(s), s]));
  const firstInstall = isFirstInstall(before);
  return before.map((s) => {
    const id = { kind: s.kind, name: s.name };
    if (!s.existed && firstInstall && !policy.deleteCreated) {
      return { action: 'leave', ...id, reason: 'first install: there is no earlier release to return to; left in place for debugging' };
    }
    // Deleting a migration that may still run could stop it halfway; the next release replaces it.
    if (runsOnce(s.kind) && !(firstInstall && policy.deleteCreated)) {
      return { action: 'leave', ...id, reason: 'a Job runs once and has no revisions: what it did stays (the schema stays migrated), and its log with it' };
    }
    if (!s.existed) return { action: 'delete', ...id, apiVersion: apiVersionOf(s.kind) };
    const live = now.get(workloadId(s));
    const moved = !after || live?.revision !== s.revision || (live?.generation ?? 0) > (s.generation ?? 0);
    if (!moved) return { action: 'keep', ...id, reason: `still on revision ${s.revision ?? '?'}` };
    if (s.revision === undefined) return { action: 'keep', ...id, reason: 'no revision history to return to (revisionHistoryLimit 0)' };
    return { action: 'undo', ...id, toRevision: s.revision, fromRevision: live?.revision, template: s.template };
  });
}

/**
 * Where the recorded template stands now: already live (an earlier undo, or one whose answer was
 * lost, restored it), or under which revision number — a restored template gets a new one.
 */
async function resolveUndo(kube: KubeClient, namespace: string, step: UndoStep): Promise<{ already: boolean; toRevision: number }> {
  if (!step.template) return { already: false, toRevision: step.toRevision };
  const live = await kube.json<KubeObject>(['get', `${step.kind.toLowerCase()}/${step.name}`, '-n', namespace]);
  const history = await historyOf(kube, namespace, [step.kind]);
  const kind = workloadKind(step.kind);
  if (kind.template({ ...live, kind: step.kind }, history) === step.template) return { already: true, toRevision: step.toRevision };
  return { already: false, toRevision: kind.revisionOf({ ...live, kind: step.kind }, history, step.template) ?? step.toRevision };
}

/**
 * `rollout undo --to-revision`, to the recorded template. A transient failure is retried only after
 * looking again where that template stands: a blind retry of an undo that did commit would ask for
 * a revision number that no longer exists.
 */
async function undo(kube: KubeClient, namespace: string, step: UndoStep): Promise<'undone' | 'already'> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const target = await resolveUndo(kube, namespace, step);
    if (target.already) return 'already';
    step.toRevision = target.toRevision;
    const args = ['rollout', 'undo', `${step.kind.toLowerCase()}/${step.name}`, '-n', namespace, `--to-revision=${target.toRevision}`];
    const r = await kube.run(args, { allowFailure: true, retryMs: 0 });
    if (r.code === 0) return 'undone';
    if (!isTransient(r.stderr) || Date.now() - started > UNDO_RETRY_MS) throw new KubectlError(args, r);
    await new Promise((res) => setTimeout(res, Math.min(4000, 500 * 2 ** (attempt - 1))));
  }
}

const UNDO_RETRY_MS = 30_000;

/**
 * With OrderedReady, a StatefulSet whose pod is stuck on the bad revision stays stuck after its
 * template is reverted: such pods must be deleted so the controller recreates them at the old one.
 */
async function unstickStatefulSet(kube: KubeClient, namespace: string, name: string): Promise<string[]> {
  const generation = (await kube.json<StatefulSet>(['get', 'statefulset', name, '-n', namespace])).metadata.generation;
  // The controller must have seen the reverted template before updateRevision names it.
  await kube.run(['wait', `statefulset/${name}`, '-n', namespace, `--for=jsonpath={.status.observedGeneration}=${generation}`, '--timeout=60s']);
  const sts = await kube.json<StatefulSet>(['get', 'statefulset', name, '-n', namespace]);
  const pods = (await kube.raw<List<Pod>>(collectionPath('Pod', namespace))).items;
  const restored = sts.status?.updateRevision;
  const stuck = pods.filter(
    (p) => ownedBy(p, sts.metadata.uid) && p.metadata.labels?.['controller-revision-hash'] !== restored && conditionOf(p, 'Ready')?.status !== 'True',
  );
  for (const p of stuck) await kube.run(['delete', 'pod', p.metadata.name, '-n', namespace, '--wait=false']);
  return stuck.map((p) => p.metadata.name);
}

export type RollbackOptions = {
  timeoutMs: number;
  fieldManager: string;
  reporter: Reporter;
  /** Wait for the restored release to be healthy (not when a cancelled run has seconds left). */
  wait: boolean;
  /** The release's other objects as they were before it, to restore or delete; and the first-install policy. */
  objects?: ObjectState[];
  policy?: InstallPolicy;
};

/** Undoes one workload; only the undo's own failure fails the step: what follows it only warns. */
async function runUndo(kube: KubeClient, namespace: string, step: UndoStep, opts: RollbackOptions): Promise<void> {
  const { reporter } = opts;
  let before: ManagedFieldsEntry[] | undefined;
  try {
    before = await managedFields(kube, namespace, step.kind, step.name);
    if ((await undo(kube, namespace, step)) === 'already') {
      step.already = true;
      reporter.info(`${step.kind}/${step.name} already runs the recorded template`);
    }
  } catch (err) {
    step.error = (err as Error).message;
    reporter.error(`rollback of ${step.kind}/${step.name} failed: ${step.error}`, 'rollback');
    return;
  }
  try {
    // The next release must own what the undo restored, to be able to remove it.
    if (!step.already) await reclaimAfterUndo(kube, namespace, step.kind, step.name, opts.fieldManager, before ?? []);
  } catch (err) {
    reporter.warning(`${step.kind}/${step.name} is restored, but its fields stay kubectl's: ${(err as Error).message}`);
  }
  try {
    if (workloadKind(step.kind).unstickAfterUndo) {
      const deleted = await unstickStatefulSet(kube, namespace, step.name);
      if (deleted.length) reporter.info(`deleted pods stuck on the failed revision: ${deleted.join(', ')}`);
    }
  } catch (err) {
    reporter.warning(`${step.kind}/${step.name} is restored, but its pods stuck on the failed revision were not deleted: ${(err as Error).message}`);
  }
}

/** The live revisions now; undefined (and said) when the API does not answer even after retries. */
async function currentRevisions(kube: KubeClient, namespace: string, before: Snapshot[], reporter: Reporter): Promise<Snapshot[] | undefined> {
  try {
    return await snapshot(kube, namespace, before);
  } catch (err) {
    reporter.warning(`cannot read the live revisions (${(err as Error).message.split('\n')[0]}): undoing every workload to its recorded revision`);
    return undefined;
  }
}

/** The other objects now, or undefined (and said) when the API does not answer. */
async function currentObjects(kube: KubeClient, namespace: string, objects: ObjectState[], reporter: Reporter): Promise<Map<string, KubeObject> | undefined> {
  try {
    return await liveObjects(kube, namespace, objects);
  } catch (err) {
    reporter.warning(`cannot read the release's objects (${(err as Error).message.split('\n')[0]}): restoring every one that existed`);
    return undefined;
  }
}

const failedStep = (s: RollbackStep) => 'error' in s && !!s.error;

/**
 * Returns the whole release to what ran before: the other objects first (pods the undo recreates
 * read their config at start), then every workload that moved to its snapshotted revision, then
 * what the release added is deleted; and waits for the restored workloads to be healthy.
 * Every step is tried, whatever the others do: one that fails is reported, not fatal.
 */
export async function rollBack(
  kube: KubeClient,
  namespace: string,
  before: Snapshot[],
  opts: RollbackOptions,
): Promise<{ steps: RollbackStep[]; healthy: boolean }> {
  const policy = opts.policy ?? { deleteCreated: false };
  const objects = opts.objects ?? [];
  const [afterWorkloads, afterObjects] = await Promise.all([
    currentRevisions(kube, namespace, before, opts.reporter),
    currentObjects(kube, namespace, objects, opts.reporter),
  ]);
  const restoreSteps = planRestore(objects, afterObjects, { firstInstall: isFirstInstall(before), deleteCreated: policy.deleteCreated });
  const workloadSteps = planRollback(before, afterWorkloads, policy);
  // Objects the release did not change are not worth a line; workloads are always accounted for.
  const steps: RollbackStep[] = [...restoreSteps.filter((s) => s.action !== 'keep'), ...workloadSteps];
  for (const step of steps) if (step.action !== 'keep') opts.reporter.info(`rollback ${describeStep(step)}`);
  await restoreObjects(
    kube,
    namespace,
    restoreSteps.filter((s) => s.action === 'restore'),
    objects,
    opts.fieldManager,
  );
  for (const step of workloadSteps) if (step.action === 'undo') await runUndo(kube, namespace, step, opts);
  const deletions = steps.filter((s): s is RestoreStep => s.action === 'delete');
  await restoreObjects(kube, namespace, deletions, objects, opts.fieldManager);
  // An undo's failure is reported where it happens.
  for (const step of steps.filter((s) => failedStep(s) && s.action !== 'undo')) {
    opts.reporter.error(`rollback of ${step.kind}/${step.name} failed: ${(step as { error: string }).error}`, 'rollback');
  }
  const undone = workloadSteps.filter((s): s is UndoStep => s.action === 'undo' && !s.error).map((s) => ({ kind: s.kind, name: s.name }));
  const allRestored = !steps.some(failedStep);
  if (!undone.length || !opts.wait) return { steps, healthy: allRestored };
  const outcome = await watchRollout(kube, namespace, undone, { timeoutMs: opts.timeoutMs, log: (l) => opts.reporter.info(`  ${l}`) });
  return { steps, healthy: outcome.ok && allRestored };
}
