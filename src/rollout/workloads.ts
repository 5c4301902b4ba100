// The kinds whose rollouts the action watches and rolls back, in one table: what their verdict
// reads, which pods are the new revision's, where their history lives and what a rollback needs.
import type { ControllerRevision, DaemonSet, Deployment, Job, KubeObject, Pod, ReplicaSet, StatefulSet } from '../kube/objects.js';
import { ownedBy } from '../kube/objects.js';
import {
  daemonSetVerdict,
  deploymentVerdict,
  jobComplete,
  jobVerdict,
  newDaemonSetPods,
  newDeploymentPods,
  newJobPods,
  newStatefulSetPods,
  statefulSetVerdict,
  type Verdict,
  type VerdictOptions,
} from './verdict.js';

/** A workload of the release, by kind and name. */
export type WorkloadRef = { kind: string; name: string };

export const workloadId = (w: WorkloadRef) => `${w.kind}/${w.name}`;

/** The live objects of the kinds a verdict reads, by kind. */
export type Related = { pods: Pod[]; replicaSets: ReplicaSet[] };

/** Where revisions live: ReplicaSets for Deployments, ControllerRevisions for the others. */
export type History = { replicaSets: ReplicaSet[]; controllerRevisions: ControllerRevision[] };

type WorkloadKind = {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Job';
  /** Kinds listed and watched besides the workload itself, to judge it. */
  reads: readonly ('Pod' | 'ReplicaSet')[];
  newPods(workload: KubeObject, related: Related): Pod[];
  verdict(workload: KubeObject, related: Related, opts: VerdictOptions): Verdict;
  /** The revision `rollout undo --to-revision` takes, read from the live object and its history. */
  revision(workload: KubeObject, history: ControllerRevision[]): number | undefined;
  /**
   * The identity of the pod template a live workload runs, stable across rollbacks (a revision
   * number is not: the restored one gets a new, higher number).
   */
  template(workload: KubeObject, history: History): string | undefined;
  /** The revision number the template with that identity has now. */
  revisionOf(workload: KubeObject, history: History, template: string): number | undefined;
  /** Its history is in ControllerRevisions (not on ReplicaSets). */
  controllerRevisions: boolean;
  /** With OrderedReady, pods stuck on the bad revision stay stuck after an undo: delete them. */
  unstickAfterUndo: boolean;
  /**
   * For a kind that runs once to completion (a Job): whether it has. Nothing to soak, no revision
   * to return to, and what it did stays.
   */
  completed?: (workload: KubeObject) => boolean;
};

const REVISION = 'deployment.kubernetes.io/revision';

const TEMPLATE_HASH = 'pod-template-hash';
const rsRevision = (rs: ReplicaSet) => Number(rs.metadata.annotations?.[REVISION]) || undefined;
const ownedReplicaSets = (d: KubeObject, h: History) => h.replicaSets.filter((rs) => ownedBy(rs, d.metadata.uid));

/** The ControllerRevision a workload runs now: the StatefulSet's updateRevision, else the newest. */
function currentControllerRevision(workload: KubeObject, h: History): ControllerRevision | undefined {
  const owned = h.controllerRevisions.filter((cr) => ownedBy(cr, workload.metadata.uid));
  const current = (workload as StatefulSet).status?.updateRevision;
  if (current) return owned.find((cr) => cr.metadata.name === current);
  return owned.reduce<ControllerRevision | undefined>((max, cr) => (!max || cr.revision > max.revision ? cr : max), undefined);
}

/** The revision a ControllerRevision-backed workload runs. */
const controllerRevision = (workload: KubeObject, controllerRevisions: ControllerRevision[]) =>
  currentControllerRevision(workload, { replicaSets: [], controllerRevisions })?.revision;

const byControllerRevision = {
  template: (w: KubeObject, h: History) => currentControllerRevision(w, h)?.metadata.name,
  revisionOf: (w: KubeObject, h: History, template: string) =>
    h.controllerRevisions.find((cr) => ownedBy(cr, w.metadata.uid) && cr.metadata.name === template)?.revision,
};

const DEPLOYMENT: WorkloadKind = {
  kind: 'Deployment',
  reads: ['ReplicaSet', 'Pod'],
  newPods: (d, r) => newDeploymentPods(d as Deployment, r.replicaSets, r.pods),
  verdict: (d, r, opts) => deploymentVerdict(d as Deployment, r.replicaSets, r.pods, opts),
  revision(d) {
    const n = Number(d.metadata.annotations?.[REVISION]);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  },
  template: (d, h) => ownedReplicaSets(d, h).find((rs) => rsRevision(rs) === DEPLOYMENT.revision(d, []))?.metadata.labels?.[TEMPLATE_HASH],
  revisionOf: (d, h, template) => {
    const rs = ownedReplicaSets(d, h).find((r) => r.metadata.labels?.[TEMPLATE_HASH] === template);
    return rs && rsRevision(rs);
  },
  controllerRevisions: false,
  unstickAfterUndo: false,
};

const STATEFUL_SET: WorkloadKind = {
  kind: 'StatefulSet',
  reads: ['Pod'],
  newPods: (s, r) => newStatefulSetPods(s as StatefulSet, r.pods),
  verdict: (s, r, opts) => statefulSetVerdict(s as StatefulSet, r.pods, opts),
  revision: controllerRevision,
  ...byControllerRevision,
  controllerRevisions: true,
  unstickAfterUndo: true,
};

const DAEMON_SET: WorkloadKind = {
  kind: 'DaemonSet',
  reads: ['Pod'],
  newPods: (ds, r) => newDaemonSetPods(ds as DaemonSet, r.pods),
  verdict: (ds, r, opts) => daemonSetVerdict(ds as DaemonSet, r.pods, opts),
  revision: controllerRevision,
  ...byControllerRevision,
  controllerRevisions: true,
  unstickAfterUndo: false,
};

const JOB: WorkloadKind = {
  kind: 'Job',
  reads: ['Pod'],
  newPods: (j, r) => newJobPods(j as Job, r.pods),
  verdict: (j, r, opts) => jobVerdict(j as Job, r.pods, opts),
  revision: () => undefined,
  template: () => undefined,
  revisionOf: () => undefined,
  controllerRevisions: false,
  unstickAfterUndo: false,
  completed: (j) => jobComplete(j as Job),
};

export const WORKLOADS: Record<string, WorkloadKind> = { Deployment: DEPLOYMENT, StatefulSet: STATEFUL_SET, DaemonSet: DAEMON_SET, Job: JOB };

/** A Job: it runs once to completion. */
export const runsOnce = (kind: string) => WORKLOADS[kind]?.completed !== undefined;

/** It ran to completion: a result that stands once the object is gone (ttlSecondsAfterFinished deletes it). */
export const ranToCompletion = (kind: string, o: KubeObject) => WORKLOADS[kind]?.completed?.(o) === true;

export const isWorkload = (kind: string) => kind in WORKLOADS;

export function workloadKind(kind: string): WorkloadKind {
  const k = WORKLOADS[kind];
  if (!k) throw new Error(`${kind} is not a workload kind with rollouts`);
  return k;
}

/**
 * The revision number of a live workload, read the way `kubectl rollout history` does; undefined
 * when there is no history to return to (revisionHistoryLimit 0 keeps none).
 */
export function liveRevision(workload: KubeObject, history: ControllerRevision[]): number | undefined {
  if (workload.spec?.revisionHistoryLimit === 0) return undefined;
  return workloadKind(workload.kind).revision(workload, history);
}
