// watchRollout against a scripted cluster serving captured statuses: readiness, failure signals,
// the deadline, the soak window, and the API's own behaviour (streams that end, ERROR events,
// lists that fail for a moment).
import { describe, expect, test } from '@jest/globals';
import { watchRollout, type WatchOptions } from '../../src/rollout/watch.js';
import {
  atRevision,
  deploymentFixture,
  FIXTURE_NAMESPACE,
  jobFixture,
  restarted,
  serveDeployment,
  serveJob,
  serveStatefulSet,
  statefulSetFixture,
} from '../support/fixtures.js';
import { ScriptedKube } from '../support/scripted-kube.js';

const BACKEND = { kind: 'Deployment', name: 'backend' };
const DB = { kind: 'StatefulSet', name: 'db' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup() {
  const kube = new ScriptedKube(FIXTURE_NAMESPACE);
  const lines: string[] = [];
  // The captured crashes are first crashes: judged here with no allowance, as with failures-allowed 0.
  const opts = (more: Partial<WatchOptions> = {}): WatchOptions => ({
    timeoutMs: 5000,
    log: (l) => lines.push(l),
    judgement: { failuresAllowed: 0, stableSeconds: 5 },
    ...more,
  });
  return { kube, lines, opts };
}

/** Waits until the watch has listed and opened a stream for every kind it needs (a Deployment: itself, ReplicaSets, Pods, Events). */
async function watching(kube: ScriptedKube, streams: number) {
  for (let i = 0; i < 100 && kube.openWatches() < streams; i++) await sleep(10);
  expect(kube.openWatches()).toBe(streams);
}

describe('watchRollout', () => {
  test('a complete rollout is ready at once, judged from the lists', async () => {
    const { kube, lines, opts } = setup();
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const outcome = await watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts());
    expect(outcome.ok).toBe(true);
    expect(outcome.verdicts.get('Deployment/backend')?.state).toBe('ready');
    expect(lines).toContain('Deployment/backend ready: 2 of 2 replicas available');
    // A Deployment is judged with its ReplicaSets and pods: three lists, three watches, all stopped.
    expect(kube.called(/^get --raw \/apis\/apps\/v1\/namespaces\/capture-562e486e\/deployments$/)).toHaveLength(1);
    expect(kube.called(/replicasets\?watch=1&resourceVersion=\d+$/)).toHaveLength(1);
    expect(kube.openWatches()).toBe(0);
  });

  test('a rollout in progress is followed through watch events until it completes', async () => {
    const { kube, lines, opts } = setup();
    serveDeployment(kube, deploymentFixture('rolling-in-progress'));
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts());
    await watching(kube, 4);
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const outcome = await watch;
    expect(outcome.ok).toBe(true);
    expect(lines[0]).toMatch(/^Deployment\/backend waiting: /);
    expect(lines.at(-1)).toBe('Deployment/backend ready: 2 of 2 replicas available');
  });

  test('a crash loop of a new pod fails the rollout the moment it shows, naming the pod', async () => {
    const { kube, opts } = setup();
    const f = deploymentFixture('crashloop');
    serveDeployment(kube, f);
    const outcome = await watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts());
    expect(outcome).toMatchObject({ ok: false, cause: 'failure' });
    const v = outcome.verdicts.get('Deployment/backend')!;
    expect(v.failures.map((x) => [x.pod, x.reason])).toEqual([['backend-6cc7b75ff5-4sxf4', 'CrashLoopBackOff']]);
    // The doomed release started with its first new pod, not with the old ones still serving.
    expect(outcome.firstDoomedPodAt).toBe(Date.parse('2026-11-26T18:03:10Z'));
  });

  test('every workload is watched at once: a failing StatefulSet fails the set while the Deployment is ready', async () => {
    const { kube, opts } = setup();
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    serveStatefulSet(kube, statefulSetFixture('statefulset-crashloop'));
    const outcome = await watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND, DB], opts());
    expect(outcome.ok).toBe(false);
    expect(outcome.verdicts.get('Deployment/backend')?.state).toBe('ready');
    expect(outcome.verdicts.get('StatefulSet/db')?.failures[0].reason).toBe('CrashLoopBackOff');
  });

  test('at the deadline an unfinished rollout fails with what its unready pods show', async () => {
    const { kube, opts } = setup();
    serveDeployment(kube, deploymentFixture('never-ready'));
    const started = Date.now();
    const outcome = await watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts({ timeoutMs: 400 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(outcome).toMatchObject({ ok: false, cause: 'timeout' });
    const v = outcome.verdicts.get('Deployment/backend')!;
    expect(v.message).toMatch(/^timed out: /);
    expect(v.failures.length).toBeGreaterThan(0);
    expect(v.failures.every((x) => x.reason === 'NotReady')).toBe(true);
  });

  test('a workload that never appears times out as "not created yet"', async () => {
    const { kube, opts } = setup();
    const outcome = await watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts({ timeoutMs: 200 }));
    expect(outcome.cause).toBe('timeout');
    const failure = outcome.verdicts.get('Deployment/backend')?.failures[0];
    expect(failure).toMatchObject({ reason: 'Timeout', message: 'still not created yet at the deadline' });
    // No pod to name: the workload itself did not get there.
    expect(failure?.pod).toBeUndefined();
  });

  test('a list that fails for a moment is retried, and nothing is judged before every kind is listed', async () => {
    const { kube, lines, opts } = setup();
    serveDeployment(kube, deploymentFixture('crashloop'));
    kube.failLists('Pod', 2);
    const started = Date.now();
    const outcome = await watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts());
    expect(outcome.verdicts.get('Deployment/backend')?.failures[0].reason).toBe('CrashLoopBackOff');
    expect(lines.filter((l) => l.startsWith('listing Pods failed: '))).toHaveLength(2);
    expect(kube.called(/\/pods$/)).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  test('a watch the server ends is reopened from a fresh list, and the change made meanwhile is seen', async () => {
    const { kube, opts } = setup();
    serveDeployment(kube, deploymentFixture('rolling-in-progress'));
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts());
    await watching(kube, 4);
    kube.endWatches();
    // Changed while no watch was open: only the relist can see it.
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const outcome = await watch;
    expect(outcome.ok).toBe(true);
    expect(kube.called(/\/deployments$/)).toHaveLength(2);
    expect(kube.called(/\/deployments\?watch=1/)).toHaveLength(2);
  });

  test('an ERROR event (410 Gone) is not taken for an object: the watch relists and goes on', async () => {
    const { kube, opts } = setup();
    serveDeployment(kube, deploymentFixture('rolling-in-progress'));
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts());
    await watching(kube, 4);
    kube.expireWatches('Pod');
    await sleep(300);
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const outcome = await watch;
    expect(outcome.ok).toBe(true);
    expect(kube.called(/\/pods$/)).toHaveLength(2);
  });

  test('soak: a restart after Ready fails the release, with the previous log asked for', async () => {
    const { kube, opts } = setup();
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts({ soakMs: 5000 }));
    await watching(kube, 4);
    await sleep(100);
    serveDeployment(kube, restarted(deploymentFixture('healthy-complete')));
    const outcome = await watch;
    expect(outcome).toMatchObject({ ok: false, cause: 'soak' });
    const failures = outcome.verdicts.get('Deployment/backend')!.failures;
    // The first pod whose restart arrives fails the release at once.
    expect(failures).toEqual([
      expect.objectContaining({ reason: 'RestartedWhileSoaking', message: 'restarted 1 time(s) after it was Ready', previousLogs: true }),
    ]);
  });

  test('soak: a quiet window ends ready after its length, not before', async () => {
    const { kube, lines, opts } = setup();
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const started = Date.now();
    const outcome = await watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts({ soakMs: 600 }));
    expect(outcome.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    expect(lines).toContain('all ready; soaking for 1s to catch restarts and readiness flaps');
  });

  test("a spec the controller has not seen yet is not judged ready on the old revision's pods", async () => {
    const { kube, lines, opts } = setup();
    const moved = deploymentFixture('healthy-complete');
    moved.deployment.metadata.annotations!['deployment.kubernetes.io/revision'] = '9';
    moved.deployment.metadata.generation = 9;
    serveDeployment(kube, moved);
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts());
    await watching(kube, 4);
    await sleep(200);
    expect(lines).toEqual(['Deployment/backend waiting: waiting for the controller to see the new spec']);
    serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 9));
    const outcome = await watch;
    expect(outcome.ok).toBe(true);
  });
});

describe('watchRollout with a migration Job', () => {
  /** The TTL controller's deletion (ttlSecondsAfterFinished): the Job, then its pods. */
  function deleteJob(kube: ScriptedKube, name: string) {
    kube.remove('Job', name);
    for (const p of kube.podsNotOwnedBy('ReplicaSet')) kube.remove('Pod', p.metadata.name);
  }

  test('a Job deleted once it completed (ttlSecondsAfterFinished: 0) stays complete while the rest still rolls', async () => {
    const { kube, lines, opts } = setup();
    serveDeployment(kube, deploymentFixture('rolling-in-progress'));
    serveJob(kube, jobFixture('complete'));
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND, { kind: 'Job', name: 'complete' }], opts());
    // The Job, the Deployment, and what they read: Pods, ReplicaSets, Events.
    await watching(kube, 5);
    deleteJob(kube, 'complete');
    await sleep(100);
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const outcome = await watch;
    expect(outcome.ok).toBe(true);
    expect(outcome.verdicts.get('Job/complete')).toMatchObject({ state: 'ready', message: 'completed: 1 succeeded' });
    expect(lines.filter((l) => l.startsWith('Job/complete'))).toEqual(['Job/complete ready: completed: 1 succeeded']);
  });

  test('a Job deleted before it completed is not there: the release waits for it, and times out', async () => {
    const { kube, opts } = setup();
    serveJob(kube, jobFixture('running'));
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [{ kind: 'Job', name: 'running' }], opts({ timeoutMs: 1500 }));
    await watching(kube, 3);
    deleteJob(kube, 'running');
    const outcome = await watch;
    expect(outcome.ok).toBe(false);
    expect(outcome.cause).toBe('timeout');
    expect(outcome.verdicts.get('Job/running')?.message).toBe('timed out: not created yet');
  });
});

describe('watchRollout soak with pods that leave', () => {
  test('a new pod evicted or drained during the soak (terminating, then gone), and its replacement starting, are no failure', async () => {
    const { kube, opts } = setup();
    serveDeployment(kube, deploymentFixture('healthy-complete'));
    const watch = watchRollout(kube, FIXTURE_NAMESPACE, [BACKEND], opts({ soakMs: 1500 }));
    await watching(kube, 4);
    await sleep(100);
    const evicted = deploymentFixture('healthy-complete').pods[0];
    // The eviction: deletionTimestamp set, readiness and the container going away, then the pod removed.
    evicted.metadata.deletionTimestamp = new Date().toISOString();
    evicted.status.conditions = evicted.status.conditions.map((c: { type: string }) => (c.type === 'Ready' ? { ...c, status: 'False' } : c));
    evicted.status.containerStatuses[0].state = { terminated: { exitCode: 0, reason: 'Completed' } };
    kube.put('Pod', evicted);
    await sleep(200);
    kube.remove('Pod', evicted.metadata.name);
    // Its replacement: created with no container status, then waiting for its first start, then Ready.
    const replacement = deploymentFixture('healthy-complete').pods[0];
    // Same name, new uid: how a StatefulSet recreates an evicted pod.
    replacement.metadata.uid = 'a0000000-0000-4000-8000-000000000001';
    const ready = structuredClone(replacement.status);
    replacement.status = { phase: 'Pending', conditions: [] };
    kube.put('Pod', replacement);
    await sleep(100);
    replacement.status = {
      ...ready,
      conditions: [],
      containerStatuses: [{ ...ready.containerStatuses[0], ready: false, state: { waiting: { reason: 'ContainerCreating' } } }],
    };
    kube.put('Pod', replacement);
    await sleep(100);
    replacement.status = ready;
    kube.put('Pod', replacement);
    const outcome = await watch;
    expect(outcome.ok).toBe(true);
  });
});
