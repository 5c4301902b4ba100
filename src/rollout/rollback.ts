// Returning to exactly what ran before: a plan from the snapshots and the live revisions (pure),
// then its execution with `kubectl rollout undo --to-revision`, never a blind undo.
import type { Kubectl } from '../kube/kubectl.js';
import type { Snapshot } from './snapshot.js';

export type RollbackStep =
  | { action: 'undo'; kind: string; name: string; toRevision: number; fromRevision?: number }
  | { action: 'keep'; kind: string; name: string; reason: string }
  | { action: 'leave'; kind: string; name: string; reason: string };

/**
 * One step per workload: undo only where the revision moved; keep where it did not (a config-only
 * deploy, or a failure before this workload changed); leave what did not exist before.
 */
export function planRollback(before: Snapshot[], after: Map<string, number | undefined>): RollbackStep[] {
  return before.map((s) => {
    const id = { kind: s.kind, name: s.name };
    if (!s.existed) return { action: 'leave', ...id, reason: 'first install: there is no earlier release to return to; left in place for debugging' };
    if (s.revision === undefined) return { action: 'keep', ...id, reason: 'it had no recorded revision (revisionHistoryLimit 0?)' };
    const now = after.get(`${s.kind}/${s.name}`);
    if (now === s.revision) return { action: 'keep', ...id, reason: `still on revision ${s.revision}` };
    return { action: 'undo', ...id, toRevision: s.revision, fromRevision: now };
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
  let sts = await kubectl.json(['get', 'statefulset', name, '-n', namespace]);
  // The controller must have seen the reverted template before updateRevision names it.
  await kubectl.run(['wait', `statefulset/${name}`, '-n', namespace, `--for=jsonpath={.status.observedGeneration}=${sts.metadata.generation}`, '--timeout=60s']);
  sts = await kubectl.json(['get', 'statefulset', name, '-n', namespace]);
  const pods = (await kubectl.json(['get', 'pods', '-n', namespace])).items as any[];
  const restored = sts.status?.updateRevision;
  const stuck = pods.filter(
    (p) =>
      (p.metadata.ownerReferences ?? []).some((r: any) => r.uid === sts.metadata.uid) &&
      p.metadata.labels?.['controller-revision-hash'] !== restored &&
      !(p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
  );
  for (const p of stuck) await kubectl.run(['delete', 'pod', p.metadata.name, '-n', namespace, '--wait=false']);
  return stuck.map((p) => p.metadata.name);
}
