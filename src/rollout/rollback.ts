// Returning to exactly what ran before: a plan from the snapshots taken before and after (pure),
// then its execution with `kubectl rollout undo --to-revision`, never a blind undo.
import type { Kubectl } from '../kube/kubectl.js';
import { ownedBy } from '../manifests/objects.js';
import { workloadId, type Snapshot } from './snapshot.js';

export type RollbackStep =
  | { action: 'undo'; kind: string; name: string; toRevision: number; fromRevision?: number; error?: string }
  | { action: 'keep'; kind: string; name: string; reason: string }
  | { action: 'leave'; kind: string; name: string; reason: string };

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

export async function undo(kubectl: Kubectl, namespace: string, step: Extract<RollbackStep, { action: 'undo' }>): Promise<void> {
  await kubectl.run(['rollout', 'undo', `${step.kind.toLowerCase()}/${step.name}`, '-n', namespace, `--to-revision=${step.toRevision}`]);
}

/**
 * With OrderedReady, a StatefulSet whose pod is stuck on the bad revision stays stuck after its
 * template is reverted: such pods must be deleted so the controller recreates them at the old one.
 */
export async function unstickStatefulSet(kubectl: Kubectl, namespace: string, name: string): Promise<string[]> {
  const generation = (await kubectl.json(['get', 'statefulset', name, '-n', namespace])).metadata.generation;
  // The controller must have seen the reverted template before updateRevision names it.
  await kubectl.run(['wait', `statefulset/${name}`, '-n', namespace, `--for=jsonpath={.status.observedGeneration}=${generation}`, '--timeout=60s']);
  const sts = await kubectl.json(['get', 'statefulset', name, '-n', namespace]);
  const pods = (await kubectl.json(['get', 'pods', '-n', namespace])).items as any[];
  const restored = sts.status?.updateRevision;
  const stuck = pods.filter(
    (p) =>
      ownedBy(p, sts.metadata.uid) &&
      p.metadata.labels?.['controller-revision-hash'] !== restored &&
      !(p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
  );
  for (const p of stuck) await kubectl.run(['delete', 'pod', p.metadata.name, '-n', namespace, '--wait=false']);
  return stuck.map((p) => p.metadata.name);
}
