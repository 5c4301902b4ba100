// Rollout status as a pure function of the objects: what `kubectl rollout status` requires for
// success, plus the pod signals that mean a release will never become healthy.
import { ownedBy, type KubeObject } from '../manifests/objects.js';

export type PodFailure = {
  pod: string;
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
};

export const DEFAULT_VERDICT_OPTIONS: Omit<VerdictOptions, 'now'> = { unschedulableGraceSeconds: 30, pullGraceSeconds: 60 };

const REVISION = 'deployment.kubernetes.io/revision';
// Docker Hub's "repository does not exist or may require authorization" is left out: it is also how
// an auth failure reads, which gets the pull grace instead.
const NOT_FOUND = /not found|manifest unknown|name unknown|NotFound/i;
const TRANSIENT_CONFIG = /failed to sync .* cache/i;

const ago = (time: string | undefined, now: number) => (time ? (now - Date.parse(time)) / 1000 : 0);
const terminatedText = (t: any) => `exit code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}`;

/** Why one container will not come up, or undefined while it may still. */
function containerFailure(pod: KubeObject, cs: any, init: boolean, opts: VerdictOptions): PodFailure | undefined {
  const base = { pod: pod.metadata.name, container: cs.name, init };
  const waiting = cs.state?.waiting;
  const last = cs.lastState?.terminated;
  const terminated = cs.state?.terminated;
  // lastState stays until the next termination: an OOM kill the container has since recovered
  // from (running again) is for the soak window's restart count, not a failure by itself.
  const oom = terminated?.reason === 'OOMKilled' ? terminated : last?.reason === 'OOMKilled' && !cs.state?.running ? last : undefined;
  if (oom) {
    return { ...base, reason: 'OOMKilled', message: `killed for exceeding its memory limit (${terminatedText(oom)})`, hint: 'raise resources.limits.memory or find the leak; the limit is in the pod spec', previousLogs: !terminated };
  }
  if (init && (terminated?.exitCode ?? 0) !== 0) {
    return { ...base, reason: 'InitContainerFailed', message: `init container exited with ${terminatedText(terminated)}`, hint: 'the migration failed: read its log below; the schema may be partly migrated', previousLogs: false };
  }
  // An init container that failed before and has since completed (state terminated, exit 0) is fine.
  if (init && last && last.exitCode !== 0 && !terminated) {
    return { ...base, reason: 'InitContainerFailed', message: `init container exited with ${terminatedText(last)}, ${waiting?.reason ?? 'restarting'}`, hint: 'the migration failed: read its log below; the schema may be partly migrated', previousLogs: true };
  }
  switch (waiting?.reason) {
    case 'ErrImagePull':
    case 'ImagePullBackOff':
      if (NOT_FOUND.test(waiting.message ?? '') || ago(pod.status?.startTime, opts.now) > opts.pullGraceSeconds) {
        return { ...base, reason: waiting.reason, message: waiting.message ?? '', hint: `the image ${cs.image} is not in the registry (or the node may not pull it): check the tag or digest and the pull secret` };
      }
      return undefined;
    case 'InvalidImageName':
      return { ...base, reason: waiting.reason, message: waiting.message ?? '', hint: 'the image reference does not parse' };
    case 'CrashLoopBackOff':
      return { ...base, reason: 'CrashLoopBackOff', message: `restarted ${cs.restartCount} times; last ${last ? terminatedText(last) : 'exit unknown'}`, hint: 'the process exits right after it starts: read the previous log below', previousLogs: true };
    case 'CreateContainerConfigError':
      if (TRANSIENT_CONFIG.test(waiting.message ?? '')) return undefined;
      return { ...base, reason: waiting.reason, message: waiting.message ?? '', hint: 'a ConfigMap or Secret the pod references is missing, or lacks the key' };
    case 'CreateContainerError':
    case 'RunContainerError':
    case 'ContainerCannotRun':
      return { ...base, reason: waiting.reason, message: waiting.message ?? '', hint: 'the runtime could not start the container: check command, entrypoint and mounts' };
  }
  if (terminated && terminated.exitCode !== 0 && pod.spec?.restartPolicy === 'Never') {
    return { ...base, reason: 'Error', message: `exited with ${terminatedText(terminated)}`, hint: 'read the log below', previousLogs: false };
  }
  return undefined;
}

/** The failures of one pod, judged from its status alone. */
export function podFailures(pod: KubeObject, opts: VerdictOptions): PodFailure[] {
  if (pod.metadata.deletionTimestamp) return [];
  const status = pod.status ?? {};
  const scheduled = (status.conditions ?? []).find((c: any) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    if (ago(scheduled.lastTransitionTime ?? pod.metadata.creationTimestamp as string, opts.now) < opts.unschedulableGraceSeconds) return [];
    return [{ pod: pod.metadata.name, reason: 'Unschedulable', message: scheduled.message ?? '', hint: 'no node has room for the requests: lower resources.requests or add nodes' }];
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

export const isPodReady = (pod: KubeObject) =>
  !pod.metadata.deletionTimestamp && (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');


/** The ReplicaSet of the Deployment's current revision, the only one whose pods are judged. */
export function newReplicaSet(deployment: KubeObject, replicaSets: KubeObject[]): KubeObject | undefined {
  const revision = deployment.metadata.annotations?.[REVISION];
  const uid = deployment.metadata.uid as string;
  return replicaSets.find((rs) => ownedBy(rs, uid) && rs.metadata.annotations?.[REVISION] === revision);
}

export function newDeploymentPods(deployment: KubeObject, replicaSets: KubeObject[], pods: KubeObject[]): KubeObject[] {
  const rs = newReplicaSet(deployment, replicaSets);
  if (!rs) return [];
  return pods.filter((p) => ownedBy(p, rs.metadata.uid as string));
}

export function newStatefulSetPods(sts: KubeObject, pods: KubeObject[]): KubeObject[] {
  const revision = sts.status?.updateRevision;
  return pods.filter((p) => ownedBy(p, sts.metadata.uid as string) && p.metadata.labels?.['controller-revision-hash'] === revision);
}

const failed = (failures: PodFailure[]): Verdict => ({
  state: 'failed',
  message: `${failures[0].pod}: ${failures[0].reason}`,
  failures,
});

export function deploymentVerdict(d: KubeObject, replicaSets: KubeObject[], pods: KubeObject[], opts: VerdictOptions): Verdict {
  const status = d.status ?? {};
  const conditions: any[] = status.conditions ?? [];
  const progressing = conditions.find((c) => c.type === 'Progressing');
  const replicaFailure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if ((status.observedGeneration ?? 0) < (d.metadata.generation as number)) {
    return { state: 'progressing', message: 'waiting for the controller to see the new spec', failures: [] };
  }
  const failures = newDeploymentPods(d, replicaSets, pods).flatMap((p) => podFailures(p, opts));
  if (failures.length) return failed(failures);
  if (replicaFailure) {
    return failed([{ pod: `replicaset of ${d.metadata.name}`, reason: replicaFailure.reason ?? 'ReplicaFailure', message: replicaFailure.message ?? '', hint: 'pods cannot be created: check quota, limit ranges and admission policies' }]);
  }
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return failed([{ pod: d.metadata.name, reason: 'ProgressDeadlineExceeded', message: progressing.message ?? '', hint: 'the rollout made no progress within progressDeadlineSeconds' }]);
  }
  const want = d.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < want) return { state: 'progressing', message: `${updated} of ${want} new replicas updated`, failures: [] };
  if (total > updated) return { state: 'progressing', message: `${total - updated} old replicas pending termination`, failures: [] };
  if (available < updated) return { state: 'progressing', message: `${available} of ${updated} updated replicas available`, failures: [] };
  return { state: 'ready', message: `${available} of ${want} replicas available`, failures: [] };
}

export function statefulSetVerdict(s: KubeObject, pods: KubeObject[], opts: VerdictOptions): Verdict {
  const status = s.status ?? {};
  if (s.spec?.updateStrategy?.type === 'OnDelete') {
    return failed([{ pod: s.metadata.name, reason: 'OnDeleteStrategy', message: 'updateStrategy OnDelete never rolls pods by itself', hint: 'use RollingUpdate' }]);
  }
  if (!status.observedGeneration || status.observedGeneration < (s.metadata.generation as number)) {
    return { state: 'progressing', message: 'waiting for the controller to see the new spec', failures: [] };
  }
  const failures = newStatefulSetPods(s, pods).flatMap((p) => podFailures(p, opts));
  if (failures.length) return failed(failures);
  const want = s.spec?.replicas ?? 1;
  const ready = status.readyReplicas ?? 0;
  if (ready < want) return { state: 'progressing', message: `${ready} of ${want} pods ready`, failures: [] };
  const partition = s.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (partition > 0) {
    const updated = status.updatedReplicas ?? 0;
    if (updated < want - partition) return { state: 'progressing', message: `${updated} of ${want - partition} pods updated`, failures: [] };
    return { state: 'ready', message: `partitioned roll out complete: ${updated} new pods`, failures: [] };
  }
  if (status.updateRevision !== status.currentRevision) {
    return { state: 'progressing', message: `${status.updatedReplicas ?? 0} of ${want} pods updated`, failures: [] };
  }
  return { state: 'ready', message: `${ready} of ${want} pods ready`, failures: [] };
}

/** A DaemonSet's new pods carry the generation of the template they were made from. */
export function newDaemonSetPods(ds: KubeObject, pods: KubeObject[]): KubeObject[] {
  return pods.filter((p) => ownedBy(p, ds.metadata.uid as string) && p.metadata.labels?.['pod-template-generation'] === String(ds.metadata.generation));
}

export function daemonSetVerdict(ds: KubeObject, pods: KubeObject[], opts: VerdictOptions): Verdict {
  const status = ds.status ?? {};
  if ((status.observedGeneration ?? 0) < (ds.metadata.generation as number)) {
    return { state: 'progressing', message: 'waiting for the controller to see the new spec', failures: [] };
  }
  const mine = newDaemonSetPods(ds, pods);
  const failures = mine.flatMap((p) => podFailures(p, opts));
  if (failures.length) return failed(failures);
  const want = status.desiredNumberScheduled ?? 0;
  if ((status.updatedNumberScheduled ?? 0) < want) return { state: 'progressing', message: `${status.updatedNumberScheduled ?? 0} of ${want} pods updated`, failures: [] };
  if ((status.numberAvailable ?? 0) < want) return { state: 'progressing', message: `${status.numberAvailable ?? 0} of ${want} pods available`, failures: [] };
  return { state: 'ready', message: `${want} pods available`, failures: [] };
}

/**
 * What a deadline reports for the pods that are not Ready: any failure signal, its grace period
 * over; otherwise a readiness probe that never passed.
 */
export function unreadyAtDeadline(pods: KubeObject[], now: number): PodFailure[] {
  const strict: VerdictOptions = { now, unschedulableGraceSeconds: 0, pullGraceSeconds: 0 };
  return pods
    .filter((p) => !p.metadata.deletionTimestamp && !isPodReady(p))
    .flatMap((p) => {
      const signals = podFailures(p, strict);
      if (signals.length) return signals;
      const cond = (p.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
      return [{ pod: p.metadata.name, reason: 'NotReady', message: cond?.message ?? 'the pod never became Ready', hint: 'the readiness probe never passed: see the Unhealthy events below' }];
    });
}
