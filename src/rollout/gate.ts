// When a phase's gate holds, judged from the live objects a rollout watch holds (pure): the new
// pods are Ready, or the migration ran for this release. Whether the rollout succeeds (available
// for minReadySeconds, old pods gone) stays the watch's own verdict.
import type { Container, Deployment, KubeObject, Pod } from '../kube/objects.js';
import { isPodReady, newDeploymentPods } from './verdict.js';
import type { LiveView } from './watch.js';
import { ranToCompletion, runsOnce, workloadKind, type WorkloadRef } from './workloads.js';

export type GateState = {
  /** Each workload runs as many Ready pods of its new revision as it wants (a Job: it completed). */
  ready: boolean;
  /** Each workload's migration completed for this release. */
  migrated: boolean;
};

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

/** The migration ran for this release: its Job completed, or the Deployment's first new pod got past its init containers. */
function migrationRan(kind: string, o: KubeObject, view: Pick<LiveView, 'related'>): boolean {
  if (runsOnce(kind)) return ranToCompletion(kind, o);
  return kind === 'Deployment' && migrationCompleted(o as Deployment, view);
}

/** How many pods the workload wants; unknown (undefined) for a DaemonSet until its controller counted the nodes. */
const wanted = (kind: string, o: KubeObject): number | undefined => (kind === 'DaemonSet' ? o.status?.desiredNumberScheduled : (o.spec?.replicas ?? 1));

/**
 * As many pods of the new revision Ready as the workload wants: what the next phase needs (a
 * database that answers), before the rollout is complete (minReadySeconds, old pods gone).
 */
export function newPodsReady(kind: string, o: KubeObject, view: Pick<LiveView, 'related'>): boolean {
  // A Job has no pods to keep Ready: it is there once it completed.
  if (runsOnce(kind)) return ranToCompletion(kind, o);
  if ((o.status?.observedGeneration ?? 0) < (o.metadata.generation ?? 0)) return false;
  const want = wanted(kind, o);
  return want !== undefined && workloadKind(kind).newPods(o, view.related).filter(isPodReady).length >= want;
}

/**
 * The gate state of the workloads a phase's apply changed, as the watch sees them now. The ones it
 * did not change are never watched: the release holds their gates at once.
 */
export function gateState(workloads: WorkloadRef[], view: LiveView): GateState {
  // By the reference's kind: the items of a list carry none.
  const live = workloads.map((w) => ({ kind: w.kind, obj: view.workload(w) }));
  const ready = live.map((l) => !!l.obj && newPodsReady(l.kind, l.obj, view));
  const migrated = live.map((l) => !!l.obj && migrationRan(l.kind, l.obj, view));
  return { ready: ready.every(Boolean), migrated: migrated.every(Boolean) };
}
