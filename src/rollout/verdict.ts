// Rollout status as a pure function of the objects: what `kubectl rollout status` requires for
// success, plus the pod signals that mean a release will never become healthy.
import {
  conditionOf,
  ownedBy,
  type ContainerStateTerminated,
  type ContainerStatus,
  type DaemonSet,
  type Deployment,
  type Job,
  type KubeEvent,
  type Pod,
  type ReplicaSet,
  type StatefulSet,
} from '../kube/objects.js';

export type PodFailure = {
  /** The failing pod; none when the workload itself failed (a Job that gave up, a deadline). */
  pod?: string;
  container?: string;
  init?: boolean;
  reason: string;
  message: string;
  hint: string;
  /** The container's previous instance holds the logs that explain the failure. */
  previousLogs?: boolean;
};

export type Verdict = {
  state: 'progressing' | 'ready' | 'failed';
  /** One line for the progress log, e.g. "1 of 2 updated replicas available". */
  message: string;
  failures: PodFailure[];
};

export type VerdictOptions = {
  now: number;
  /** Seconds a pod may stay Unschedulable before it counts as a failure (an autoscaler may add nodes). */
  unschedulableGraceSeconds: number;
  /** Seconds an image pull may fail for reasons other than "not found" (auth, network) before it counts. */
  pullGraceSeconds: number;
  /** Failures (crashes, failed migrations) a new pod's container may have before they count: a first start may meet a dependency not up yet. */
  failuresAllowed: number;
  /** Seconds a container without a readiness probe must keep running before its pod counts: it is Ready the moment it starts. */
  stableSeconds: number;
  /** Seconds an Unschedulable pod may wait while the cluster autoscaler adds a node for it. */
  scaleUpGraceSeconds: number;
  /** What the cluster autoscaler said of each pending pod, by pod name (from its events). */
  autoscaler?: Map<string, AutoscalerWord>;
};

export type AutoscalerWord = 'scaling-up' | 'cannot-scale';

export const DEFAULT_FAILURES_ALLOWED = 1;
export const DEFAULT_STABLE_SECONDS = 5;
export const DEFAULT_VERDICT_OPTIONS: Omit<VerdictOptions, 'now'> = {
  unschedulableGraceSeconds: 30,
  pullGraceSeconds: 60,
  failuresAllowed: DEFAULT_FAILURES_ALLOWED,
  stableSeconds: DEFAULT_STABLE_SECONDS,
  scaleUpGraceSeconds: 300,
};

/**
 * The cluster autoscaler's latest word on each pod (pure): TriggeredScaleUp (a node is coming, which
 * takes minutes) or NotTriggerScaleUp (no node group would fit it).
 */
export function autoscalerWords(events: KubeEvent[]): Map<string, AutoscalerWord> {
  const latest = new Map<string, { at: number; word: AutoscalerWord }>();
  for (const e of events) {
    const word = e.reason === 'TriggeredScaleUp' ? 'scaling-up' : e.reason === 'NotTriggerScaleUp' ? 'cannot-scale' : undefined;
    const pod = e.involvedObject?.kind === 'Pod' ? e.involvedObject.name : undefined;
    if (!word || !pod) continue;
    const at = Date.parse(e.lastTimestamp ?? e.eventTime ?? '') || 0;
    if ((latest.get(pod)?.at ?? -1) <= at) latest.set(pod, { at, word });
  }
  return new Map([...latest].map(([pod, { word }]) => [pod, word]));
}

const REVISION = 'deployment.kubernetes.io/revision';
// Docker Hub's "repository does not exist or may require authorization" is left out: it is also how
// an auth failure reads, which gets the pull grace instead.
const NOT_FOUND = /not found|manifest unknown|name unknown|NotFound/i;
const TRANSIENT_CONFIG = /failed to sync .* cache/i;

const ago = (time: string | undefined, now: number) => (time ? (now - Date.parse(time)) / 1000 : 0);

// A runtime that could not start the container at all (exit 128) is usually the node's problem, not the release's.
const isNodeHiccup = (t?: ContainerStateTerminated) => t?.reason === 'ContainerCannotRun' && t.exitCode === 128;

/** How many times a container has failed: each restart followed a failure, and one may have just ended. */
function failureCount(cs: ContainerStatus): number {
  const endedNow = cs.state?.terminated && cs.state.terminated.exitCode !== 0 ? 1 : 0;
  return Math.max(cs.restartCount ?? 0, endedNow ? 0 : 1) + endedNow;
}

/** Still within the failures a container may have before they count. */
const withinAllowance = (cs: ContainerStatus, opts: VerdictOptions) => failureCount(cs) <= opts.failuresAllowed;
const terminatedText = (t: ContainerStateTerminated) => `exit code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}`;

type Found = Omit<PodFailure, 'pod' | 'container' | 'init'>;
const MIGRATION_HINT = 'the migration failed: read its log below; the schema may be partly migrated';

/**
 * Killed for its memory limit. lastState stays until the next termination: an OOM kill the
 * container has since recovered from (running again) is for the soak's restart count, not a failure.
 */
function oomKilled(cs: ContainerStatus, opts: VerdictOptions): Found | undefined {
  const terminated = cs.state?.terminated;
  const last = cs.lastState?.terminated;
  const oom = terminated?.reason === 'OOMKilled' ? terminated : last?.reason === 'OOMKilled' && !cs.state?.running ? last : undefined;
  if (!oom || withinAllowance(cs, opts)) return undefined;
  const message = `killed for exceeding its memory limit (${terminatedText(oom)})`;
  return { reason: 'OOMKilled', message, hint: 'raise resources.limits.memory or find the leak; the limit is in the pod spec', previousLogs: !terminated };
}

/** An init container (the migration) that exited non-zero, now or before its current restart. */
function initFailed(cs: ContainerStatus, opts: VerdictOptions): Found | undefined {
  const terminated = cs.state?.terminated;
  const last = cs.lastState?.terminated;
  if (isNodeHiccup(terminated ?? last) || withinAllowance(cs, opts)) return undefined;
  if (terminated && terminated.exitCode !== 0) {
    return { reason: 'InitContainerFailed', message: `init container exited with ${terminatedText(terminated)}`, hint: MIGRATION_HINT, previousLogs: false };
  }
  // One that failed before and has since completed (terminated, exit 0) is fine.
  if (last && last.exitCode !== 0 && !terminated) {
    const message = `init container exited with ${terminatedText(last)}, ${cs.state?.waiting?.reason ?? 'restarting'}`;
    return { reason: 'InitContainerFailed', message, hint: MIGRATION_HINT, previousLogs: true };
  }
  return undefined;
}

/** A container waiting for a reason that will not pass by itself (known-transient ones excepted). */
function waitingFailure(pod: Pod, cs: ContainerStatus, opts: VerdictOptions): Found | undefined {
  const waiting = cs.state?.waiting;
  const reason = waiting?.reason ?? '';
  const message = waiting?.message ?? '';
  switch (reason) {
    case 'ErrImagePull':
    case 'ImagePullBackOff': {
      if (!NOT_FOUND.test(message) && ago(pod.status?.startTime, opts.now) <= opts.pullGraceSeconds) return undefined;
      return {
        reason,
        message,
        hint: `the image ${cs.image} is not in the registry (or the node may not pull it): check the tag or digest and the pull secret`,
      };
    }
    case 'InvalidImageName':
      return { reason, message, hint: 'the image reference does not parse' };
    case 'CrashLoopBackOff': {
      const last = cs.lastState?.terminated;
      if (isNodeHiccup(last) || withinAllowance(cs, opts)) return undefined;
      const what = `restarted ${cs.restartCount ?? 0} times; last ${last ? terminatedText(last) : 'exit unknown'}`;
      return { reason, message: what, hint: 'the process exits right after it starts: read the previous log below', previousLogs: true };
    }
    case 'CreateContainerConfigError':
      if (TRANSIENT_CONFIG.test(message)) return undefined;
      return { reason, message, hint: 'a ConfigMap or Secret the pod references is missing, or lacks the key' };
    case 'CreateContainerError':
    case 'RunContainerError':
    case 'ContainerCannotRun':
      return { reason, message, hint: 'the runtime could not start the container: check command, entrypoint and mounts' };
  }
  return undefined;
}

/** A run-once pod's container that exited non-zero: it will not be restarted. */
function exitedForGood(pod: Pod, cs: ContainerStatus): Found | undefined {
  const terminated = cs.state?.terminated;
  if (!terminated || terminated.exitCode === 0 || pod.spec?.restartPolicy !== 'Never') return undefined;
  return { reason: 'Error', message: `exited with ${terminatedText(terminated)}`, hint: 'read the log below', previousLogs: false };
}

/** Why one container will not come up, or undefined while it may still. */
function containerFailure(pod: Pod, cs: ContainerStatus, init: boolean, opts: VerdictOptions): PodFailure | undefined {
  const found = oomKilled(cs, opts) ?? (init ? initFailed(cs, opts) : undefined) ?? waitingFailure(pod, cs, opts) ?? exitedForGood(pod, cs);
  return found && { pod: pod.metadata.name, container: cs.name, init, ...found };
}

/** The failures of one pod, judged from its status alone. */
export function podFailures(pod: Pod, opts: VerdictOptions): PodFailure[] {
  if (pod.metadata.deletionTimestamp) return [];
  const status = pod.status ?? {};
  const scheduled = conditionOf(pod, 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    const word = opts.autoscaler?.get(pod.metadata.name);
    const grace = word === 'cannot-scale' ? 0 : word === 'scaling-up' ? opts.scaleUpGraceSeconds : opts.unschedulableGraceSeconds;
    if (ago(scheduled.lastTransitionTime ?? pod.metadata.creationTimestamp, opts.now) < grace) return [];
    const hint =
      word === 'cannot-scale'
        ? 'the cluster autoscaler cannot add a node that fits (NotTriggerScaleUp): lower resources.requests or widen the node groups'
        : 'no node has room for the requests: lower resources.requests or add nodes';
    return [{ pod: pod.metadata.name, reason: 'Unschedulable', message: scheduled.message ?? '', hint }];
  }
  const out: PodFailure[] = [];
  for (const cs of status.initContainerStatuses ?? []) {
    const f = containerFailure(pod, cs, true, opts);
    if (f) out.push(f);
  }
  for (const cs of status.containerStatuses ?? []) {
    const f = containerFailure(pod, cs, false, opts);
    if (f) out.push(f);
  }
  return out;
}

/**
 * A pod with a container that has not yet run for the stability window although it must: one
 * without a readiness probe (Ready the moment it starts, so a release that crashes a second later
 * would pass), or one that has already failed (inside its allowance, a crash loop whose probe
 * passes for an instant between crashes would pass too).
 */
function settling(pod: Pod, opts: VerdictOptions): boolean {
  const unprobed = (pod.spec?.containers ?? []).filter((c) => !c.readinessProbe).map((c) => c.name);
  return (pod.status?.containerStatuses ?? []).some((cs) => {
    const started = cs.state?.running?.startedAt;
    const mustSettle = unprobed.includes(cs.name) || (cs.restartCount ?? 0) > 0;
    return mustSettle && started !== undefined && ago(started, opts.now) < opts.stableSeconds;
  });
}

/** Ready, unless some new pod is still inside its stability window. */
function readyOnceSettled(pods: Pod[], opts: VerdictOptions, message: string): Verdict {
  const count = pods.filter((p) => !p.metadata.deletionTimestamp && settling(p, opts)).length;
  if (!count) return { state: 'ready', message, failures: [] };
  return { state: 'progressing', message: `${count} new pod(s) without a readiness probe running for less than ${opts.stableSeconds}s`, failures: [] };
}

export const isPodReady = (pod: Pod) => !pod.metadata.deletionTimestamp && conditionOf(pod, 'Ready')?.status === 'True';

/** The ReplicaSet of the Deployment's current revision, the only one whose pods are judged. */
export function newReplicaSet(deployment: Deployment, replicaSets: ReplicaSet[]): ReplicaSet | undefined {
  const revision = deployment.metadata.annotations?.[REVISION];
  const uid = deployment.metadata.uid;
  return replicaSets.find((rs) => ownedBy(rs, uid) && rs.metadata.annotations?.[REVISION] === revision);
}

export function newDeploymentPods(deployment: Deployment, replicaSets: ReplicaSet[], pods: Pod[]): Pod[] {
  const rs = newReplicaSet(deployment, replicaSets);
  if (!rs) return [];
  return pods.filter((p) => ownedBy(p, rs.metadata.uid));
}

export function newStatefulSetPods(sts: StatefulSet, pods: Pod[]): Pod[] {
  const revision = sts.status?.updateRevision;
  return pods.filter((p) => ownedBy(p, sts.metadata.uid) && p.metadata.labels?.['controller-revision-hash'] === revision);
}

const failed = (failures: PodFailure[]): Verdict => ({
  state: 'failed',
  message: `${failures[0].pod ? `${failures[0].pod}: ` : ''}${failures[0].reason}`,
  failures,
});

export function deploymentVerdict(d: Deployment, replicaSets: ReplicaSet[], pods: Pod[], opts: VerdictOptions): Verdict {
  const status = d.status ?? {};
  const progressing = conditionOf(d, 'Progressing');
  const replicaFailure = conditionOf(d, 'ReplicaFailure');
  if ((status.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
    return { state: 'progressing', message: 'waiting for the controller to see the new spec', failures: [] };
  }
  const mine = newDeploymentPods(d, replicaSets, pods);
  const failures = mine.flatMap((p) => podFailures(p, opts));
  if (failures.length) return failed(failures);
  if (replicaFailure?.status === 'True') {
    return failed([
      {
        pod: `replicaset of ${d.metadata.name}`,
        reason: replicaFailure.reason ?? 'ReplicaFailure',
        message: replicaFailure.message ?? '',
        hint: 'pods cannot be created: check quota, limit ranges and admission policies',
      },
    ]);
  }
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return failed([
      {
        pod: d.metadata.name,
        reason: 'ProgressDeadlineExceeded',
        message: progressing.message ?? '',
        hint: 'the rollout made no progress within progressDeadlineSeconds',
      },
    ]);
  }
  const want = d.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < want) return { state: 'progressing', message: `${updated} of ${want} new replicas updated`, failures: [] };
  if (total > updated) return { state: 'progressing', message: `${total - updated} old replicas pending termination`, failures: [] };
  if (available < updated) return { state: 'progressing', message: `${available} of ${updated} updated replicas available`, failures: [] };
  return readyOnceSettled(mine, opts, `${available} of ${want} replicas available`);
}

export function statefulSetVerdict(s: StatefulSet, pods: Pod[], opts: VerdictOptions): Verdict {
  const status = s.status ?? {};
  // OnDelete rolls nothing by itself: only a pending update (a pod left on an older template) fails.
  const pendingUpdate = pods.some((p) => ownedBy(p, s.metadata.uid) && p.metadata.labels?.['controller-revision-hash'] !== status.updateRevision);
  if (s.spec?.updateStrategy?.type === 'OnDelete' && status.updateRevision && pendingUpdate) {
    return failed([
      { pod: s.metadata.name, reason: 'OnDeleteStrategy', message: 'updateStrategy OnDelete never rolls pods by itself', hint: 'use RollingUpdate' },
    ]);
  }
  if (!status.observedGeneration || status.observedGeneration < (s.metadata.generation ?? 0)) {
    return { state: 'progressing', message: 'waiting for the controller to see the new spec', failures: [] };
  }
  const mine = newStatefulSetPods(s, pods);
  const failures = mine.flatMap((p) => podFailures(p, opts));
  if (failures.length) return failed(failures);
  const want = s.spec?.replicas ?? 1;
  const ready = status.readyReplicas ?? 0;
  if (ready < want) return { state: 'progressing', message: `${ready} of ${want} pods ready`, failures: [] };
  const partition = s.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (partition > 0) {
    const updated = status.updatedReplicas ?? 0;
    if (updated < want - partition) return { state: 'progressing', message: `${updated} of ${want - partition} pods updated`, failures: [] };
    return readyOnceSettled(mine, opts, `partitioned roll out complete: ${updated} new pods`);
  }
  if (status.updateRevision !== status.currentRevision) {
    return { state: 'progressing', message: `${status.updatedReplicas ?? 0} of ${want} pods updated`, failures: [] };
  }
  return readyOnceSettled(mine, opts, `${ready} of ${want} pods ready`);
}

/** A DaemonSet's new pods carry the generation of the template they were made from. */
export function newDaemonSetPods(ds: DaemonSet, pods: Pod[]): Pod[] {
  return pods.filter((p) => ownedBy(p, ds.metadata.uid) && p.metadata.labels?.['pod-template-generation'] === String(ds.metadata.generation));
}

export function daemonSetVerdict(ds: DaemonSet, pods: Pod[], opts: VerdictOptions): Verdict {
  const status = ds.status ?? {};
  if ((status.observedGeneration ?? 0) < (ds.metadata.generation ?? 0)) {
    return { state: 'progressing', message: 'waiting for the controller to see the new spec', failures: [] };
  }
  const mine = newDaemonSetPods(ds, pods);
  const failures = mine.flatMap((p) => podFailures(p, opts));
  if (failures.length) return failed(failures);
  const want = status.desiredNumberScheduled ?? 0;
  if ((status.updatedNumberScheduled ?? 0) < want)
    return { state: 'progressing', message: `${status.updatedNumberScheduled ?? 0} of ${want} pods updated`, failures: [] };
  if ((status.numberAvailable ?? 0) < want) return { state: 'progressing', message: `${status.numberAvailable ?? 0} of ${want} pods available`, failures: [] };
  return readyOnceSettled(mine, opts, `${want} pods available`);
}

/**
 * What a deadline reports for the pods that are not Ready: any failure signal, its grace period
 * over; otherwise a readiness probe that never passed.
 */
/** A Job's pods: its own, by owner (a Job replaced under the same name left the old ones behind). */
export const newJobPods = (job: Job, pods: Pod[]): Pod[] => pods.filter((p) => ownedBy(p, job.metadata.uid));

export const jobComplete = (job: Job) => conditionOf(job, 'Complete')?.status === 'True';

const JOB_HINT = 'the Job failed: read its log below (a migration may have left the schema partly migrated)';

/**
 * A Job that runs to completion (a migration): done when Complete. It fails when the Job itself
 * gives up, when more of its pods failed than the failure allowance (no need to wait out every
 * retry of backoffLimit), or when a pod shows a signal that will not pass.
 */
export function jobVerdict(job: Job, pods: Pod[], opts: VerdictOptions): Verdict {
  const status = job.status ?? {};
  if (jobComplete(job)) return { state: 'ready', message: `completed: ${status.succeeded ?? 0} succeeded`, failures: [] };
  const mine = newJobPods(job, pods);
  const tries = mine.filter((p) => p.status?.phase === 'Failed');
  const tried = tries.flatMap((p) => podFailures(p, { ...opts, failuresAllowed: 0 }));
  const gaveUp = conditionOf(job, 'Failed');
  if (gaveUp?.status === 'True' || (status.failed ?? 0) > opts.failuresAllowed) {
    const why = {
      reason: gaveUp?.reason ?? 'JobFailed',
      message: gaveUp?.message ?? `${status.failed} of its pods failed`,
      hint: JOB_HINT,
    };
    return failed(tried.length ? tried : [why]);
  }
  const stuck = mine.filter((p) => p.status?.phase !== 'Failed').flatMap((p) => podFailures(p, opts));
  if (stuck.length) return failed(stuck);
  return { state: 'progressing', message: `running: ${status.active ?? 0} active, ${status.failed ?? 0} failed`, failures: [] };
}

export function unreadyAtDeadline(pods: Pod[], now: number): PodFailure[] {
  const strict: VerdictOptions = { now, unschedulableGraceSeconds: 0, pullGraceSeconds: 0, failuresAllowed: 0, stableSeconds: 0, scaleUpGraceSeconds: 0 };
  return pods
    .filter((p) => !p.metadata.deletionTimestamp && !isPodReady(p))
    .flatMap((p) => {
      const signals = podFailures(p, strict);
      if (signals.length) return signals;
      const cond = conditionOf(p, 'Ready');
      return [
        {
          pod: p.metadata.name,
          reason: 'NotReady',
          message: cond?.message ?? 'the pod never became Ready',
          hint: 'the readiness probe never passed: see the Unhealthy events below',
        },
      ];
    });
}
