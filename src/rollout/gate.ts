// When a phase's gate holds, judged from the live objects a rollout watch holds (pure): the apply
// changed nothing, the new pods are Ready, or the migration ran for this release. Whether the
// rollout succeeds (available for minReadySeconds, old pods gone) stays the watch's own verdict.
import type { Container, Deployment, KubeObject, Pod } from '../kube/objects.js';
import type { Snapshot } from './snapshot.js';
import { isPodReady, newDeploymentPods } from './verdict.js';
import type { LiveView } from './watch.js';
import { workloadId, workloadKind, type WorkloadRef } from './workloads.js';

export type GateState = {
  /** The apply changed none of the workloads: nothing rolls, so nothing is waited for. */
  unchanged: boolean;
  /** Each workload runs as many Ready pods of its new revision as it wants (or did not change). */
  ready: boolean;
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

/** How many pods the workload wants; unknown (undefined) for a DaemonSet until its controller counted the nodes. */
const wanted = (kind: string, o: KubeObject): number | undefined => (kind === 'DaemonSet' ? o.status?.desiredNumberScheduled : (o.spec?.replicas ?? 1));

/**
 * As many pods of the new revision Ready as the workload wants: what the next phase needs (a
 * database that answers), before the rollout is complete (minReadySeconds, old pods gone).
 */
export function newPodsReady(kind: string, o: KubeObject, view: Pick<LiveView, 'related'>): boolean {
  if ((o.status?.observedGeneration ?? 0) < (o.metadata.generation ?? 0)) return false;
  const want = wanted(kind, o);
  return want !== undefined && workloadKind(kind).newPods(o, view.related).filter(isPodReady).length >= want;
}

/** The gate state of a phase's workloads, as the watch sees them now, against what ran before the apply. */
export function gateState(workloads: WorkloadRef[], view: LiveView, before: Snapshot[]): GateState {
  const was = new Map(before.map((s) => [workloadId(s), s]));
  // By the reference's kind: the items of a list carry none.
  const live = workloads.map((w) => ({ kind: w.kind, obj: view.workload(w), before: was.get(workloadId(w)) }));
  const same = live.map((l) => unchanged(l.obj, l.before));
  const ready = live.map((l, i) => same[i] || (!!l.obj && newPodsReady(l.kind, l.obj, view)));
  const migrated = live.map((l, i) => same[i] || (l.kind === 'Deployment' && !!l.obj && migrationCompleted(l.obj as Deployment, view)));
  return { unchanged: same.every(Boolean), ready: ready.every(Boolean), migrated: migrated.every(Boolean) };
}
