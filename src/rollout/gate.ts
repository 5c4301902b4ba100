// When a phase's gate holds, judged from the live objects a rollout watch holds (pure): the apply
// changed nothing, or the migration ran for this release. "Ready" is the watch's own verdict.
import type { Container, Deployment, KubeObject, Pod } from '../kube/objects.js';
import type { Snapshot } from './snapshot.js';
import { newDeploymentPods } from './verdict.js';
import type { LiveView } from './watch.js';
import { workloadId, type WorkloadRef } from './workloads.js';

export type GateState = {
  /** The apply changed none of the workloads: nothing rolls, so nothing is waited for. */
  unchanged: boolean;
  /** Each workload's migration completed for this release (or it did not change). */
  migrated: boolean;
};

/** It existed before the apply and its generation did not move: its spec is as it was. */
export function unchanged(live: KubeObject | undefined, before: Snapshot | undefined): boolean {
  return !!live && !!before?.existed && before.generation !== undefined && live.metadata.generation === before.generation;
}

// Sidecars (init containers restarted Always) run beside the pod and never complete.
const runsToCompletion = (c: Container) => c.restartPolicy !== 'Always';

/** Every init container that runs to completion exited 0. */
export function initCompleted(pod: Pod): boolean {
  const want = (pod.spec?.initContainers ?? []).filter(runsToCompletion).map((c) => c.name);
  const done = new Set((pod.status?.initContainerStatuses ?? []).filter((s) => s.state?.terminated?.exitCode === 0).map((s) => s.name));
  return want.length > 0 && want.every((name) => done.has(name));
}

/** A pod of the Deployment's new ReplicaSet got past its init containers: the migration ran for this release. */
export function migrationCompleted(d: Deployment, view: Pick<LiveView, 'related'>): boolean {
  // Until the controller has seen the new template, the "new" ReplicaSet is the old one, whose pods migrated for the release before.
  if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) return false;
  return newDeploymentPods(d, view.related.replicaSets, view.related.pods).some(initCompleted);
}

/** The gate state of a phase's workloads, as the watch sees them now, against what ran before the apply. */
export function gateState(workloads: WorkloadRef[], view: LiveView, before: Snapshot[]): GateState {
  const was = new Map(before.map((s) => [workloadId(s), s]));
  // By the reference's kind: the items of a list carry none.
  const live = workloads.map((w) => ({ kind: w.kind, obj: view.workload(w), before: was.get(workloadId(w)) }));
  const same = live.map((l) => unchanged(l.obj, l.before));
  const migrated = live.map((l, i) => same[i] || (l.kind === 'Deployment' && !!l.obj && migrationCompleted(l.obj as Deployment, view)));
  return { unchanged: same.every(Boolean), migrated: migrated.every(Boolean) };
}
