// Returning to exactly what ran before: a plan from the snapshots taken before and after (pure),
// then its execution with `kubectl rollout undo --to-revision`, never a blind undo.
import type { KubeClient } from '../kube/client.js';
import { conditionOf, ownedBy, type List, type Pod, type StatefulSet } from '../kube/objects.js';
import { collectionPath } from '../kube/resources.js';
import type { Reporter } from '../report/reporter.js';
import { describeStep } from '../report/summary.js';
import { snapshot, type Snapshot } from './snapshot.js';
import { watchRollout } from './watch.js';
import { workloadId, workloadKind } from './workloads.js';

export type UndoStep = { action: 'undo'; kind: string; name: string; toRevision: number; fromRevision?: number; error?: string };
export type RollbackStep =
  UndoStep | { action: 'keep'; kind: string; name: string; reason: string } | { action: 'leave'; kind: string; name: string; reason: string };

/**
 * One step per workload: undo where its spec moved since the snapshot (by generation, so a
 * change the controller has not acted on yet counts too); keep where it did not (a config-only
 * deploy, or a failure before this workload was reached); leave what did not exist before.
 */
export function planRollback(before: Snapshot[], after: Snapshot[]): RollbackStep[] {
  const now = new Map(after.map((s) => [workloadId(s), s]));
  return before.map((s) => {
    const id = { kind: s.kind, name: s.name };
    if (!s.existed) return { action: 'leave', ...id, reason: 'first install: there is no earlier release to return to; left in place for debugging' };
    const live = now.get(workloadId(s));
    const moved = live?.revision !== s.revision || (live?.generation ?? 0) > (s.generation ?? 0);
    if (!moved) return { action: 'keep', ...id, reason: `still on revision ${s.revision ?? '?'}` };
    if (s.revision === undefined) return { action: 'keep', ...id, reason: 'no revision history to return to (revisionHistoryLimit 0)' };
    return { action: 'undo', ...id, toRevision: s.revision, fromRevision: live?.revision };
  });
}

async function undo(kube: KubeClient, namespace: string, step: UndoStep): Promise<void> {
  await kube.run(['rollout', 'undo', `${step.kind.toLowerCase()}/${step.name}`, '-n', namespace, `--to-revision=${step.toRevision}`]);
}

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

async function runUndo(kube: KubeClient, namespace: string, step: UndoStep, reporter: Reporter): Promise<void> {
  try {
    await undo(kube, namespace, step);
    if (workloadKind(step.kind).unstickAfterUndo) {
      const deleted = await unstickStatefulSet(kube, namespace, step.name);
      if (deleted.length) reporter.info(`deleted pods stuck on the failed revision: ${deleted.join(', ')}`);
    }
  } catch (err) {
    step.error = (err as Error).message;
    reporter.error(`rollback of ${step.kind}/${step.name} failed: ${step.error}`, 'rollback');
  }
}

/**
 * Returns every workload that moved to its snapshotted revision and waits for it to be healthy.
 * Every step is tried, whatever the others do: one that fails is reported, not fatal.
 */
export async function rollBack(
  kube: KubeClient,
  namespace: string,
  before: Snapshot[],
  timeoutMs: number,
  reporter: Reporter,
): Promise<{ steps: RollbackStep[]; healthy: boolean }> {
  const steps = planRollback(before, await snapshot(kube, namespace, before));
  for (const step of steps) {
    reporter.info(`rollback ${describeStep(step)}`);
    if (step.action === 'undo') await runUndo(kube, namespace, step, reporter);
  }
  const undone = steps.filter((s): s is UndoStep => s.action === 'undo' && !s.error).map((s) => ({ kind: s.kind, name: s.name }));
  const allRestored = steps.every((s) => s.action !== 'undo' || !s.error);
  if (!undone.length) return { steps, healthy: allRestored };
  const outcome = await watchRollout(kube, namespace, undone, { timeoutMs, log: (l) => reporter.info(`  ${l}`) });
  return { steps, healthy: outcome.ok && allRestored };
}
