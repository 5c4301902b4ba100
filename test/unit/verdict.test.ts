// The rollout verdict against objects captured from a real cluster (test/fixtures/status, made by
// capture.sh there): each fixture is a Deployment or StatefulSet, its ReplicaSets or
// ControllerRevisions and its pods at the moment a scenario showed itself.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../../src/kube/objects.js';
import { jobFixture, type JobFixture } from '../support/fixtures.js';
import {
  autoscalerWords,
  DEFAULT_VERDICT_OPTIONS,
  deploymentVerdict,
  isPodReady,
  jobVerdict,
  newDeploymentPods,
  newJobPods,
  newReplicaSet,
  newStatefulSetPods,
  podFailures,
  statefulSetVerdict,
  unreadyAtDeadline,
  type VerdictOptions,
} from '../../src/rollout/verdict.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const fixtureDir = path.join(repoRoot, 'test', 'fixtures', 'status');

type DeploymentFixture = { deployment: KubeObject; replicaSets: KubeObject[]; pods: KubeObject[]; capturedAt: string };
type StatefulSetFixture = { statefulSet: KubeObject; pods: KubeObject[]; controllerRevisions: KubeObject[]; capturedAt: string };

/** A fresh copy on every call, so a test may edit what it loads. */
const load = <T>(name: string): T => JSON.parse(readFileSync(path.join(fixtureDir, name), 'utf8')) as T;
const deploymentFixture = (name: string) => load<DeploymentFixture>(`${name}.json`);
const statefulSetFixture = (name: string) => load<StatefulSetFixture>(`${name}.json`);

const GRACE = { unschedulableGraceSeconds: 30, pullGraceSeconds: 60, failuresAllowed: 0, stableSeconds: 0, scaleUpGraceSeconds: 300 };
const at = (iso: string, plusSeconds = 0): VerdictOptions => ({ now: Date.parse(iso) + plusSeconds * 1000, ...GRACE });
const optionsOf = (f: { capturedAt: string }) => at(f.capturedAt);
const verdictOf = (f: DeploymentFixture, opts: VerdictOptions = optionsOf(f)) => deploymentVerdict(f.deployment, f.replicaSets, f.pods, opts);

const owners = (o: KubeObject) => (o.metadata.ownerReferences as { uid: string; name: string }[] | undefined) ?? [];
const ownedBy = (o: KubeObject, owner: KubeObject) => owners(o).some((r) => r.uid === owner.metadata.uid);
const podsOf = (f: DeploymentFixture, rs: KubeObject) => f.pods.filter((p) => ownedBy(p, rs));
const statuses = (pod: KubeObject, init = false): any[] => (init ? pod.status?.initContainerStatuses : pod.status?.containerStatuses) ?? [];
const condition = (pod: KubeObject, type: string) => (pod.status?.conditions ?? []).find((c: any) => c.type === type);

/** The ReplicaSet of the Deployment's revision, found here independently of newReplicaSet(). */
function currentRs(f: DeploymentFixture): KubeObject {
  const revision = f.deployment.metadata.annotations!['deployment.kubernetes.io/revision'];
  const found = f.replicaSets.filter((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === revision);
  expect(found).toHaveLength(1);
  return found[0];
}

/** The ReplicaSet that still serves: the one with ready replicas that is not the current one. */
function previousRs(f: DeploymentFixture): KubeObject {
  const current = currentRs(f);
  const found = f.replicaSets.filter((rs) => rs.metadata.uid !== current.metadata.uid && (rs.status?.readyReplicas ?? 0) > 0);
  expect(found).toHaveLength(1);
  return found[0];
}

/** The one pod of the new ReplicaSet whose container (or init container) waits for `reason`. */
function waitingPod(f: DeploymentFixture, reason: string, init = false): KubeObject {
  const found = podsOf(f, currentRs(f)).filter((p) => statuses(p, init).some((cs) => cs.state?.waiting?.reason === reason));
  expect(found).toHaveLength(1);
  return found[0];
}

/** The fixture as it was in the cluster while the previous release still served it. */
function expectOldReleaseServing(f: DeploymentFixture) {
  const old = podsOf(f, previousRs(f));
  expect(old.length).toBeGreaterThan(0);
  expect(old.every(isPodReady)).toBe(true);
  return old;
}

describe('a Deployment captured from the cluster', () => {
  test('healthy-complete: ready with the exact message, both pods of the current ReplicaSet judged', () => {
    const f = deploymentFixture('healthy-complete');
    expect(f.replicaSets.length).toBeGreaterThanOrEqual(2); // the first release is still in the history
    expect(verdictOf(f)).toEqual({ state: 'ready', message: '2 of 2 replicas available', failures: [] });
    expect(newReplicaSet(f.deployment, f.replicaSets)?.metadata.name).toBe(currentRs(f).metadata.name);
    expect(
      newDeploymentPods(f.deployment, f.replicaSets, f.pods)
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(f.pods.map((p) => p.metadata.name).sort());
    expect(f.pods.every(isPodReady)).toBe(true);
    expect(unreadyAtDeadline(f.pods, Date.parse(f.capturedAt))).toEqual([]);
  });

  test('rolling-in-progress: progressing while not every replica is updated', () => {
    const f = deploymentFixture('rolling-in-progress');
    const updated = f.deployment.status.updatedReplicas;
    expect(updated).toBeLessThan(2);
    expect(verdictOf(f)).toEqual({ state: 'progressing', message: `${updated} of 2 new replicas updated`, failures: [] });
    expect(f.pods.flatMap((p) => podFailures(p, optionsOf(f)))).toEqual([]);
  });

  test('every replica updated, but old ones still counted or new ones not yet available: progressing', () => {
    const surplus = deploymentFixture('healthy-complete');
    surplus.deployment.status.replicas = 3;
    expect(verdictOf(surplus)).toEqual({ state: 'progressing', message: '1 old replicas pending termination', failures: [] });

    const unavailable = deploymentFixture('healthy-complete');
    unavailable.deployment.status.availableReplicas = 1;
    expect(verdictOf(unavailable)).toEqual({ state: 'progressing', message: '1 of 2 updated replicas available', failures: [] });
  });

  test('a spec the controller has not seen yet is progressing, whatever the pods show', () => {
    for (const name of ['healthy-complete', 'crashloop']) {
      const f = deploymentFixture(name);
      f.deployment.metadata.generation = (f.deployment.metadata.generation as number) + 1;
      expect(verdictOf(f)).toEqual({ state: 'progressing', message: 'waiting for the controller to see the new spec', failures: [] });
    }
  });

  test('ProgressDeadlineExceeded fails the rollout', () => {
    const f = deploymentFixture('healthy-complete');
    const progressing = f.deployment.status.conditions.find((c: any) => c.type === 'Progressing');
    Object.assign(progressing, { status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "backend-x" has timed out progressing.' });
    const v = verdictOf(f);
    expect(v.state).toBe('failed');
    expect(v.failures).toEqual([
      expect.objectContaining({ pod: 'backend', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "backend-x" has timed out progressing.' }),
    ]);
    expect(v.message).toBe('backend: ProgressDeadlineExceeded');
  });

  test('ProgressDeadlineExceeded also ends a rollout whose pods never became Ready', () => {
    const f = deploymentFixture('never-ready');
    f.deployment.status.conditions = f.deployment.status.conditions.map((c: any) =>
      c.type === 'Progressing' ? { ...c, status: 'False', reason: 'ProgressDeadlineExceeded', message: 'timed out' } : c,
    );
    expect(verdictOf(f)).toMatchObject({ state: 'failed', failures: [{ reason: 'ProgressDeadlineExceeded' }] });
  });

  test('a ReplicaFailure condition fails the rollout', () => {
    const f = deploymentFixture('rolling-in-progress');
    f.deployment.status.conditions.push({
      type: 'ReplicaFailure',
      status: 'True',
      reason: 'FailedCreate',
      message: 'pods "backend-x" is forbidden: exceeded quota',
    });
    expect(verdictOf(f)).toMatchObject({ state: 'failed', failures: [{ reason: 'FailedCreate', message: expect.stringContaining('exceeded quota') }] });
  });
});

describe('failing releases, judged on the pods of the new ReplicaSet only', () => {
  test('crashloop: CrashLoopBackOff on the right pod and container, with the previous logs', () => {
    const f = deploymentFixture('crashloop');
    const pod = waitingPod(f, 'CrashLoopBackOff');
    const cs = statuses(pod).find((s) => s.name === 'backend');
    const v = verdictOf(f);
    expect(v.state).toBe('failed');
    expect(v.message).toBe(`${pod.metadata.name}: CrashLoopBackOff`);
    expect(v.failures).toEqual([
      {
        pod: pod.metadata.name,
        container: 'backend',
        init: false,
        reason: 'CrashLoopBackOff',
        message: `restarted ${cs.restartCount} times; last exit code 1 (Error)`,
        hint: expect.stringContaining('previous log'),
        previousLogs: true,
      },
    ]);
  });

  test('crashloop: the old release pods are not judged (and are healthy)', () => {
    const f = deploymentFixture('crashloop');
    const old = expectOldReleaseServing(f);
    const judged = newDeploymentPods(f.deployment, f.replicaSets, f.pods).map((p) => p.metadata.name);
    expect(judged).toEqual(podsOf(f, currentRs(f)).map((p) => p.metadata.name));
    const failing = verdictOf(f).failures.map((x) => x.pod);
    for (const p of old) {
      expect(judged).not.toContain(p.metadata.name);
      expect(failing).not.toContain(p.metadata.name);
      expect(podFailures(p, optionsOf(f))).toEqual([]);
    }
  });

  test('crashloop: a failing pod owned by the old ReplicaSet is not a failure of this rollout', () => {
    const f = deploymentFixture('crashloop');
    const pod = waitingPod(f, 'CrashLoopBackOff');
    const old = previousRs(f);
    pod.metadata.ownerReferences = owners(pod).map((r) => ({ ...r, name: old.metadata.name, uid: old.metadata.uid! }));
    expect(newDeploymentPods(f.deployment, f.replicaSets, f.pods).map((p) => p.metadata.name)).not.toContain(pod.metadata.name);
    const v = verdictOf(f);
    expect(v.failures).toEqual([]);
    expect(v.state).toBe('progressing');
    // The pod itself still shows the failure when judged alone.
    expect(podFailures(pod, optionsOf(f))).toHaveLength(1);
  });

  test('crashloop: a pod being deleted is not judged', () => {
    const f = deploymentFixture('crashloop');
    const pod = waitingPod(f, 'CrashLoopBackOff');
    pod.metadata.deletionTimestamp = f.capturedAt;
    expect(podFailures(pod, optionsOf(f))).toEqual([]);
    expect(isPodReady(pod)).toBe(false);
  });

  test('oomkilled: OOMKilled, from the previous instance while the container waits to restart', () => {
    const f = deploymentFixture('oomkilled');
    expectOldReleaseServing(f);
    const pod = waitingPod(f, 'CrashLoopBackOff');
    const v = verdictOf(f);
    expect(v.state).toBe('failed');
    expect(v.failures).toEqual([
      expect.objectContaining({
        pod: pod.metadata.name,
        container: 'backend',
        init: false,
        reason: 'OOMKilled',
        message: expect.stringContaining('exit code 137 (OOMKilled)'),
        previousLogs: true,
      }),
    ]);
  });

  test('oomkilled: the instance that was just killed holds its own logs', () => {
    const f = deploymentFixture('oomkilled');
    const pod = waitingPod(f, 'CrashLoopBackOff');
    const cs = statuses(pod).find((s) => s.name === 'backend');
    cs.state = { terminated: cs.lastState.terminated };
    cs.lastState = {};
    expect(podFailures(pod, optionsOf(f))).toEqual([expect.objectContaining({ reason: 'OOMKilled', previousLogs: false })]);
  });

  test('image-not-found: ImagePullBackOff with "not found" fails at once, on the init container that pulls first', () => {
    const f = deploymentFixture('image-not-found');
    expectOldReleaseServing(f);
    const pod = waitingPod(f, 'ImagePullBackOff', true);
    const image = statuses(pod, true)[0].image;
    const v = verdictOf(f);
    expect(v.state).toBe('failed');
    expect(v.failures).toEqual([
      expect.objectContaining({
        pod: pod.metadata.name,
        container: 'migrate',
        init: true,
        reason: 'ImagePullBackOff',
        message: expect.stringContaining('not found'),
        hint: expect.stringContaining(image),
      }),
    ]);
  });

  test('image-not-found: ErrImagePull with the same message fails too', () => {
    const f = deploymentFixture('image-not-found');
    const pod = waitingPod(f, 'ImagePullBackOff', true);
    const waiting = statuses(pod, true)[0].state.waiting;
    waiting.reason = 'ErrImagePull';
    waiting.message = waiting.message.replace(/^Back-off pulling image "[^"]*": ErrImagePull: /, '');
    expect(verdictOf(f)).toMatchObject({ state: 'failed', failures: [{ reason: 'ErrImagePull', message: expect.stringMatching(/^rpc error: .*not found$/) }] });
  });

  test('an auth error while pulling is given pullGraceSeconds from the pod start', () => {
    const f = deploymentFixture('image-not-found');
    const pod = waitingPod(f, 'ImagePullBackOff', true);
    const image = statuses(pod, true)[0].image;
    statuses(pod, true)[0].state.waiting.message =
      `Back-off pulling image "${image}": ErrImagePull: failed to authorize: failed to fetch anonymous token: unexpected status from GET request: 401 Unauthorized`;
    const started = pod.status.startTime as string;
    expect(Date.parse(f.capturedAt) - Date.parse(started)).toBeLessThan(60_000);

    const now = verdictOf(f);
    expect(now.state).toBe('progressing');
    expect(now.failures).toEqual([]);
    expect(verdictOf(f, at(started, 59)).failures).toEqual([]);

    const later = verdictOf(f, at(started, 61));
    expect(later.state).toBe('failed');
    expect(later.failures).toEqual([
      expect.objectContaining({ pod: pod.metadata.name, reason: 'ImagePullBackOff', message: expect.stringContaining('401 Unauthorized') }),
    ]);
  });

  test('migration-failed: InitContainerFailed on the migrate init container, previous logs', () => {
    const f = deploymentFixture('migration-failed');
    expectOldReleaseServing(f);
    const pod = waitingPod(f, 'CrashLoopBackOff', true);
    const v = verdictOf(f);
    expect(v.state).toBe('failed');
    // The main container waits in PodInitializing: that is not a failure of its own.
    expect(v.failures).toEqual([
      expect.objectContaining({
        pod: pod.metadata.name,
        container: 'migrate',
        init: true,
        reason: 'InitContainerFailed',
        message: 'init container exited with exit code 1 (Error), CrashLoopBackOff',
        hint: expect.stringContaining('migrat'),
        previousLogs: true,
      }),
    ]);
  });

  test('migration-failed: the instance that just exited holds its own logs', () => {
    const f = deploymentFixture('migration-failed');
    const pod = waitingPod(f, 'CrashLoopBackOff', true);
    const cs = statuses(pod, true)[0];
    cs.state = { terminated: cs.lastState.terminated };
    cs.lastState = {};
    expect(podFailures(pod, optionsOf(f))).toEqual([
      expect.objectContaining({ reason: 'InitContainerFailed', message: 'init container exited with exit code 1 (Error)', previousLogs: false }),
    ]);
  });

  test('config-error: CreateContainerConfigError names the missing key', () => {
    const f = deploymentFixture('config-error');
    expectOldReleaseServing(f);
    const pod = waitingPod(f, 'CreateContainerConfigError');
    expect(verdictOf(f)).toMatchObject({
      state: 'failed',
      failures: [
        {
          pod: pod.metadata.name,
          container: 'backend',
          init: false,
          reason: 'CreateContainerConfigError',
          message: expect.stringContaining("couldn't find key FEATURE_FLAGS"),
        },
      ],
    });
  });

  test("config-error: the kubelet's transient cache message is not a failure", () => {
    const f = deploymentFixture('config-error');
    const pod = waitingPod(f, 'CreateContainerConfigError');
    statuses(pod).find((s) => s.name === 'backend').state.waiting.message = 'failed to sync configmap cache: timed out waiting for the condition';
    expect(verdictOf(f)).toMatchObject({ state: 'progressing', failures: [] });
  });

  test('unschedulable: waits out the grace, then fails', () => {
    const f = deploymentFixture('unschedulable');
    expectOldReleaseServing(f);
    const pending = podsOf(f, currentRs(f)).filter((p) => condition(p, 'PodScheduled')?.reason === 'Unschedulable');
    expect(pending).toHaveLength(1);
    const since = condition(pending[0], 'PodScheduled').lastTransitionTime as string;
    expect(Date.parse(f.capturedAt) - Date.parse(since)).toBeLessThan(30_000);

    expect(verdictOf(f)).toMatchObject({ state: 'progressing', failures: [] });
    expect(verdictOf(f, at(since, 29)).failures).toEqual([]);

    const late = verdictOf(f, at(since, 31));
    expect(late.state).toBe('failed');
    expect(late.failures).toEqual([
      { pod: pending[0].metadata.name, reason: 'Unschedulable', message: expect.stringContaining('Insufficient cpu'), hint: expect.any(String) },
    ]);
    // A longer grace (an autoscaler adding nodes) keeps waiting.
    expect(verdictOf(f, { ...at(since, 31), unschedulableGraceSeconds: 120 }).failures).toEqual([]);
  });

  test('never-ready: progressing with no failure signal; the deadline reports the unready pod', () => {
    const f = deploymentFixture('never-ready');
    expectOldReleaseServing(f);
    const fresh = podsOf(f, currentRs(f));
    expect(fresh).toHaveLength(1);
    expect(fresh[0].status.phase).toBe('Running');
    expect(statuses(fresh[0])[0].state.running).toBeDefined();
    expect(isPodReady(fresh[0])).toBe(false);

    const updated = f.deployment.status.updatedReplicas;
    expect(verdictOf(f)).toEqual({ state: 'progressing', message: `${updated} of 2 new replicas updated`, failures: [] });
    // Much later too: readiness alone never fails a rollout before its deadline.
    expect(verdictOf(f, at(f.capturedAt, 3600)).failures).toEqual([]);

    const newPods = newDeploymentPods(f.deployment, f.replicaSets, f.pods);
    expect(unreadyAtDeadline(newPods, Date.parse(f.capturedAt))).toEqual([
      {
        pod: fresh[0].metadata.name,
        reason: 'NotReady',
        message: 'containers with unready status: [backend]',
        hint: expect.stringContaining('readiness probe'),
      },
    ]);
    expect(unreadyAtDeadline(f.pods, Date.parse(f.capturedAt)).map((x) => x.pod)).toEqual([fresh[0].metadata.name]);
  });

  test('the default grace periods are the ones these tests use; by default a pod may fail once and must run 5 s without a probe', () => {
    expect(DEFAULT_VERDICT_OPTIONS).toEqual({ ...GRACE, failuresAllowed: 1, stableSeconds: 5 });
  });
});

describe('a StatefulSet captured from the cluster', () => {
  test('statefulset-ready: ready, every pod on the update revision', () => {
    const f = statefulSetFixture('statefulset-ready');
    expect(statefulSetVerdict(f.statefulSet, f.pods, optionsOf(f))).toEqual({ state: 'ready', message: '2 of 2 pods ready', failures: [] });
    expect(
      newStatefulSetPods(f.statefulSet, f.pods)
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['db-0', 'db-1']);
  });

  test('statefulset-crashloop: CrashLoopBackOff on db-1 of the update revision only', () => {
    const f = statefulSetFixture('statefulset-crashloop');
    const { updateRevision, currentRevision } = f.statefulSet.status;
    expect(updateRevision).not.toBe(currentRevision);
    const db0 = f.pods.find((p) => p.metadata.name === 'db-0')!;
    expect(db0.metadata.labels!['controller-revision-hash']).toBe(currentRevision);
    expect(isPodReady(db0)).toBe(true);

    expect(newStatefulSetPods(f.statefulSet, f.pods).map((p) => p.metadata.name)).toEqual(['db-1']);
    const v = statefulSetVerdict(f.statefulSet, f.pods, optionsOf(f));
    expect(v.state).toBe('failed');
    expect(v.message).toBe('db-1: CrashLoopBackOff');
    expect(v.failures).toEqual([expect.objectContaining({ pod: 'db-1', container: 'postgres', reason: 'CrashLoopBackOff', previousLogs: true })]);
  });

  test('statefulset-crashloop: the same pod on the current revision is not judged', () => {
    const f = statefulSetFixture('statefulset-crashloop');
    const db1 = f.pods.find((p) => p.metadata.name === 'db-1')!;
    db1.metadata.labels!['controller-revision-hash'] = f.statefulSet.status.currentRevision;
    expect(statefulSetVerdict(f.statefulSet, f.pods, optionsOf(f))).toEqual({ state: 'progressing', message: '1 of 2 pods ready', failures: [] });
  });

  test('a spec the controller has not seen yet is progressing', () => {
    const f = statefulSetFixture('statefulset-crashloop');
    f.statefulSet.metadata.generation = (f.statefulSet.metadata.generation as number) + 1;
    expect(statefulSetVerdict(f.statefulSet, f.pods, optionsOf(f))).toEqual({
      state: 'progressing',
      message: 'waiting for the controller to see the new spec',
      failures: [],
    });
  });
});

describe('signals that are over by the time they are read', () => {
  test('a container OOM-killed once and running again is not a failure by itself', () => {
    const f = deploymentFixture('oomkilled');
    const pod = structuredClone(waitingPod(f, 'CrashLoopBackOff'));
    const cs = statuses(pod)[0];
    expect(cs.lastState.terminated.reason).toBe('OOMKilled');
    expect(podFailures(pod, optionsOf(f)).map((x) => x.reason)).toEqual(['OOMKilled']);
    cs.state = { running: { startedAt: f.capturedAt } };
    cs.ready = true;
    expect(podFailures(pod, optionsOf(f))).toEqual([]);
  });

  test('a migration that failed once and then completed is not a failure', () => {
    const f = deploymentFixture('migration-failed');
    const pod = structuredClone(waitingPod(f, 'CrashLoopBackOff', true));
    expect(podFailures(pod, optionsOf(f)).map((x) => x.reason)).toEqual(['InitContainerFailed']);
    const init = statuses(pod, true)[0];
    init.state = { terminated: { exitCode: 0, reason: 'Completed', startedAt: f.capturedAt, finishedAt: f.capturedAt } };
    expect(podFailures(pod, optionsOf(f))).toEqual([]);
  });

  test('at the deadline a pod names its own signal, graces over, not the readiness probe', () => {
    const f = deploymentFixture('unschedulable');
    const newPods = newDeploymentPods(f.deployment, f.replicaSets, f.pods);
    // Inside the grace period the verdict waits; at the deadline the pod says why.
    expect(verdictOf(f).failures).toEqual([]);
    expect(unreadyAtDeadline(newPods, Date.parse(f.capturedAt)).map((x) => x.reason)).toEqual(newPods.map(() => 'Unschedulable'));
  });
});

describe('the failure allowance: a first start may fail once', () => {
  const allowing = (f: { capturedAt: string }, failuresAllowed: number) => ({ ...optionsOf(f), failuresAllowed });

  test.each([
    ['crashloop', 'CrashLoopBackOff', false],
    ['oomkilled', 'OOMKilled', false],
    ['migration-failed', 'InitContainerFailed', true],
  ])('%s: one failure is allowed by default, a second counts, and allowance 0 fails on the first', (name, reason, init) => {
    const f = deploymentFixture(name);
    const pod = structuredClone(waitingPod(f, 'CrashLoopBackOff', init));
    const cs = statuses(pod, init)[0];
    expect(cs.restartCount).toBe(1);
    expect(podFailures(pod, allowing(f, 1))).toEqual([]);
    expect(podFailures(pod, allowing(f, 0)).map((x) => x.reason)).toEqual([reason]);
    cs.restartCount = 2;
    expect(podFailures(pod, allowing(f, 1)).map((x) => x.reason)).toEqual([reason]);
    expect(podFailures(pod, allowing(f, 2))).toEqual([]);
  });

  test('a Deployment whose only failing pod is within its allowance is still progressing', () => {
    const f = deploymentFixture('crashloop');
    expect(verdictOf(f, allowing(f, 1)).state).toBe('progressing');
    expect(verdictOf(f, allowing(f, 0)).state).toBe('failed');
  });

  test('an init container that just exited non-zero, before any restart, is its first failure', () => {
    const f = deploymentFixture('migration-failed');
    const pod = structuredClone(waitingPod(f, 'CrashLoopBackOff', true));
    const init = statuses(pod, true)[0];
    init.restartCount = 0;
    init.state = { terminated: { exitCode: 1, reason: 'Error', startedAt: f.capturedAt, finishedAt: f.capturedAt } };
    expect(podFailures(pod, allowing(f, 1))).toEqual([]);
    init.restartCount = 1;
    expect(podFailures(pod, allowing(f, 1)).map((x) => x.reason)).toEqual(['InitContainerFailed']);
  });

  test('a deterministic signal (a config error) fails at once whatever the allowance', () => {
    const f = deploymentFixture('config-error');
    expect(verdictOf(f, allowing(f, 5)).failures.map((x) => x.reason)).toContain('CreateContainerConfigError');
  });

  test('a runtime that could not start the container (exit 128) is the node, not the release: never counted', () => {
    const f = deploymentFixture('crashloop');
    const pod = structuredClone(waitingPod(f, 'CrashLoopBackOff'));
    const cs = statuses(pod)[0];
    cs.restartCount = 4;
    cs.lastState = { terminated: { exitCode: 128, reason: 'ContainerCannotRun', message: 'OCI runtime create failed' } };
    expect(podFailures(pod, allowing(f, 0))).toEqual([]);
    // At the deadline it is still said.
    expect(unreadyAtDeadline([pod], Date.parse(f.capturedAt)).map((x) => x.reason)).toEqual(['NotReady']);
  });
});

describe('the stability window: a container without a readiness probe must keep running', () => {
  const withoutProbes = (f: DeploymentFixture) => {
    for (const p of f.pods) for (const c of p.spec.containers) delete c.readinessProbe;
    return f;
  };
  const startedAt = (f: DeploymentFixture) => Math.max(...f.pods.flatMap((p) => statuses(p).map((cs) => Date.parse(cs.state?.running?.startedAt ?? '0'))));

  test('Ready only once every new pod has run for the window', () => {
    const f = withoutProbes(deploymentFixture('healthy-complete'));
    const last = startedAt(f);
    const at = (seconds: number) => ({ ...optionsOf(f), now: last + seconds * 1000, stableSeconds: 10 });
    expect(verdictOf(f, at(3))).toMatchObject({ state: 'progressing', message: expect.stringContaining('without a readiness probe') });
    expect(verdictOf(f, at(10)).state).toBe('ready');
  });

  test('a pod that has already failed must keep running for the window, probe or not', () => {
    const f = deploymentFixture('healthy-complete');
    const last = startedAt(f);
    for (const p of f.pods) for (const cs of statuses(p)) cs.restartCount = 1;
    expect(verdictOf(f, { ...optionsOf(f), now: last + 1000, stableSeconds: 10 }).state).toBe('progressing');
    expect(verdictOf(f, { ...optionsOf(f), now: last + 11_000, stableSeconds: 10 }).state).toBe('ready');
  });

  test('containers with a readiness probe are taken at their word', () => {
    const f = deploymentFixture('healthy-complete');
    const last = startedAt(f);
    expect(verdictOf(f, { ...optionsOf(f), now: last + 1000, stableSeconds: 10 }).state).toBe('ready');
  });
});

describe('a StatefulSet with updateStrategy OnDelete', () => {
  test('with every pod on its revision it is judged like any other; with an update pending it fails, as nothing will roll it', () => {
    const f = statefulSetFixture('statefulset-ready');
    f.statefulSet.spec.updateStrategy = { type: 'OnDelete' };
    const opts = at(f.capturedAt);
    expect(statefulSetVerdict(f.statefulSet, f.pods, opts).state).toBe('ready');
    f.statefulSet.status.updateRevision = `${f.statefulSet.status.currentRevision}-next`;
    expect(statefulSetVerdict(f.statefulSet, f.pods, opts).failures.map((x) => x.reason)).toEqual(['OnDeleteStrategy']);
  });
});

describe("the cluster autoscaler's word on an unschedulable pod", () => {
  const f = deploymentFixture('unschedulable');
  const pending = podsOf(f, currentRs(f)).find((p) => condition(p, 'PodScheduled')?.reason === 'Unschedulable')!;
  const since = condition(pending, 'PodScheduled').lastTransitionTime as string;
  const event = (reason: string, at: string) => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${pending.metadata.name}.${reason}` },
    reason,
    source: { component: 'cluster-autoscaler' },
    involvedObject: { kind: 'Pod', name: pending.metadata.name },
    lastTimestamp: at,
  });
  const withWord = (seconds: number, ...events: ReturnType<typeof event>[]) => ({ ...at(since, seconds), autoscaler: autoscalerWords(events) });

  test('a scale-up under way (TriggeredScaleUp) waits for the node, up to the scale-up grace', () => {
    const opts = (s: number) => withWord(s, event('TriggeredScaleUp', since));
    expect(verdictOf(f, opts(31)).failures).toEqual([]);
    expect(verdictOf(f, opts(299)).failures).toEqual([]);
    expect(verdictOf(f, opts(301)).failures.map((x) => x.reason)).toEqual(['Unschedulable']);
  });

  test('a scale-up that cannot help (NotTriggerScaleUp) fails at once, saying so', () => {
    const v = verdictOf(f, withWord(1, event('NotTriggerScaleUp', since)));
    expect(v.failures).toEqual([expect.objectContaining({ reason: 'Unschedulable', hint: expect.stringContaining('NotTriggerScaleUp') })]);
  });

  test('the latest word counts', () => {
    const later = new Date(Date.parse(since) + 5000).toISOString();
    expect(autoscalerWords([event('NotTriggerScaleUp', since), event('TriggeredScaleUp', later)]).get(pending.metadata.name)).toBe('scaling-up');
    expect(verdictOf(f, withWord(31, event('NotTriggerScaleUp', since), event('TriggeredScaleUp', later))).failures).toEqual([]);
  });
});

describe('a migration Job captured from the cluster (capture-jobs.sh)', () => {
  const judge = (f: JobFixture, opts: Partial<VerdictOptions> = {}) => jobVerdict(f.job, f.pods, { ...optionsOf(f), ...opts });

  test('running: progressing, nothing failed', () => {
    const f = jobFixture('running');
    expect(f.job.status.active).toBe(1);
    expect(judge(f)).toMatchObject({ state: 'progressing', failures: [] });
  });

  test('completed: ready', () => {
    const f = jobFixture('complete');
    expect(judge(f)).toMatchObject({ state: 'ready', message: 'completed: 1 succeeded' });
  });

  test('one pod failed and the Job retries: within the default allowance it goes on; with 0 it fails, with the log to read', () => {
    const f = jobFixture('failed-once');
    expect(f.job.status.failed).toBe(1);
    expect(judge(f, { failuresAllowed: 1 }).state).toBe('progressing');
    const v = judge(f, { failuresAllowed: 0 });
    expect(v.state).toBe('failed');
    expect(v.failures[0]).toMatchObject({ reason: 'Error', message: 'exited with exit code 1 (Error)' });
    expect(f.pods.map((p) => p.metadata.name)).toContain(v.failures[0].pod);
  });

  test('given up (backoffLimit reached): failed, whatever the allowance', () => {
    const f = jobFixture('gave-up');
    expect(f.job.status.conditions.some((c: any) => c.type === 'Failed' && c.status === 'True')).toBe(true);
    const v = judge(f, { failuresAllowed: 5 });
    expect(v.state).toBe('failed');
    expect(v.failures[0].reason).toBe('Error');
  });

  test('given up, its pods gone: the Job itself is the failure, with no pod named', () => {
    const f = jobFixture('gave-up');
    const v = judge({ ...f, pods: [] }, { failuresAllowed: 5 });
    expect(v).toMatchObject({ state: 'failed', message: 'BackoffLimitExceeded' });
    expect(v.failures).toEqual([
      { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', hint: expect.stringMatching(/^the Job failed/) },
    ]);
  });

  test('an image that does not exist: failed at once, naming it', () => {
    const f = jobFixture('image-not-found');
    const v = judge(f);
    expect(v.state).toBe('failed');
    expect(v.failures[0].reason).toMatch(/ErrImagePull|ImagePullBackOff/);
  });

  test("a Job's pods are its own: those of a Job replaced under the same name are not", () => {
    const f = jobFixture('complete');
    const replaced = { ...f.job, metadata: { ...f.job.metadata, uid: 'another-uid' } };
    expect(newJobPods(f.job, f.pods as never).length).toBe(f.pods.length);
    expect(newJobPods(replaced, f.pods as never)).toEqual([]);
  });
});
