// When a phase's gate holds, from statuses captured from the local cluster: the migration counts
// only when a pod of the new ReplicaSet got past its init containers, and a workload the apply did
// not change holds at once.
import { describe, expect, test } from '@jest/globals';
import type { Deployment, KubeObject, Pod } from '../../src/kube/objects.js';
import { gateState, initCompleted, migrationCompleted, newPodsReady, unchanged } from '../../src/rollout/gate.js';
import type { Snapshot } from '../../src/rollout/snapshot.js';
import type { LiveView } from '../../src/rollout/watch.js';
import { deploymentFixture, migrated, newPodsOf, statefulSetFixture, type DeploymentFixture } from '../support/fixtures.js';

const BACKEND = { kind: 'Deployment', name: 'backend' };

const viewOf = (f: DeploymentFixture): LiveView => ({
  workload: (w) => (w.kind === 'Deployment' && w.name === f.deployment.metadata.name ? f.deployment : undefined),
  related: { replicaSets: f.replicaSets as never, pods: f.pods as Pod[] },
});

const newPods = (f: DeploymentFixture) => newPodsOf(f) as Pod[];

const before = (o: KubeObject, generation = o.metadata.generation): Snapshot => ({ kind: o.kind, name: o.metadata.name, existed: true, generation });

describe('migrationCompleted', () => {
  test('a rollout whose new pod still runs its migration: not yet, though the old pods migrated long ago', () => {
    const f = deploymentFixture('rolling-in-progress');
    const old = (f.pods as Pod[]).filter((p) => !newPods(f).includes(p));
    expect(old.length).toBeGreaterThan(0);
    expect(old.every(initCompleted)).toBe(true);
    expect(newPods(f).map((p) => p.status?.initContainerStatuses?.[0].state?.running !== undefined)).toEqual([true]);
    expect(migrationCompleted(f.deployment as Deployment, viewOf(f))).toBe(false);
  });

  test('the same rollout once the new pod got past its init container: completed, though no new pod is Ready yet', () => {
    const f = migrated(deploymentFixture('rolling-in-progress'));
    expect(newPods(f).some((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))).toBe(false);
    expect(migrationCompleted(f.deployment as Deployment, viewOf(f))).toBe(true);
  });

  test('a failed migration (the init container exited 1, back-off): never completed', () => {
    const f = deploymentFixture('migration-failed');
    expect(newPods(f)[0].status?.initContainerStatuses?.[0].lastState?.terminated?.exitCode).toBe(1);
    expect(migrationCompleted(f.deployment as Deployment, viewOf(f))).toBe(false);
  });

  test('before the controller saw the new template, the pods of the old ReplicaSet do not count', () => {
    const f = deploymentFixture('healthy-complete');
    expect(migrationCompleted(f.deployment as Deployment, viewOf(f))).toBe(true);
    f.deployment.metadata.generation = (f.deployment.metadata.generation ?? 0) + 1;
    expect(migrationCompleted(f.deployment as Deployment, viewOf(f))).toBe(false);
  });

  test('a sidecar (an init container restarted Always) never completes and is not waited for', () => {
    const f = migrated(deploymentFixture('rolling-in-progress'));
    const pod = newPods(f)[0];
    pod.spec!.initContainers = [...pod.spec!.initContainers!, { name: 'proxy', image: 'proxy:1', restartPolicy: 'Always' }];
    pod.status!.initContainerStatuses!.push({ name: 'proxy', state: { running: { startedAt: f.capturedAt } } });
    expect(initCompleted(pod)).toBe(true);
    pod.status!.initContainerStatuses![0].state = { running: { startedAt: f.capturedAt } };
    expect(initCompleted(pod)).toBe(false);
  });
});

describe('newPodsReady: the new revision runs as many Ready pods as wanted, before the rollout completes', () => {
  test('Deployments: a finished rollout yes; one whose new pod is still migrating no', () => {
    const done = deploymentFixture('healthy-complete');
    expect(newPodsReady('Deployment', done.deployment, viewOf(done))).toBe(true);
    const rolling = migrated(deploymentFixture('rolling-in-progress'));
    expect(newPodsReady('Deployment', rolling.deployment, viewOf(rolling))).toBe(false);
  });

  test('StatefulSets: the captured Ready one yes, the crash-looping one no', () => {
    for (const [name, want] of [
      ['statefulset-ready', true],
      ['statefulset-crashloop', false],
    ] as const) {
      const f = statefulSetFixture(name);
      expect([name, newPodsReady('StatefulSet', f.statefulSet, { related: { replicaSets: [], pods: f.pods as Pod[] } })]).toEqual([name, want]);
    }
  });

  test('not before the controller saw the new spec', () => {
    const f = deploymentFixture('healthy-complete');
    f.deployment.metadata.generation = (f.deployment.metadata.generation ?? 0) + 1;
    expect(newPodsReady('Deployment', f.deployment, viewOf(f))).toBe(false);
  });
});

describe('unchanged', () => {
  const f = deploymentFixture('healthy-complete');
  test('the generation did not move: unchanged', () => expect(unchanged(f.deployment, before(f.deployment))).toBe(true));
  test('the generation moved: changed', () => expect(unchanged(f.deployment, before(f.deployment, 1))).toBe(false));
  test('created by this apply, or not seen yet: changed', () => {
    expect(unchanged(f.deployment, { ...BACKEND, existed: false })).toBe(false);
    expect(unchanged(undefined, before(f.deployment))).toBe(false);
  });
});

describe('gateState of a phase', () => {
  test('a new backend rolling, its migration still running: neither unchanged nor migrated', () => {
    const f = deploymentFixture('rolling-in-progress');
    expect(gateState([BACKEND], viewOf(f), [before(f.deployment, 1)])).toEqual({ unchanged: false, ready: false, migrated: false });
  });

  test('then migrated, while the rollout goes on', () => {
    const f = migrated(deploymentFixture('rolling-in-progress'));
    expect(gateState([BACKEND], viewOf(f), [before(f.deployment, 1)])).toEqual({ unchanged: false, ready: false, migrated: true });
  });

  test('a backend the apply did not change holds at once, whatever its pods show', () => {
    const f = deploymentFixture('migration-failed');
    expect(gateState([BACKEND], viewOf(f), [before(f.deployment)])).toEqual({ unchanged: true, ready: true, migrated: true });
  });

  test('databases the apply did not change: the data gate holds at once; one that changed holds the gate', () => {
    const sts = statefulSetFixture('statefulset-ready');
    const db = { kind: 'StatefulSet', name: sts.statefulSet.metadata.name };
    const view: LiveView = { workload: (w) => (w.kind === 'StatefulSet' ? sts.statefulSet : undefined), related: { replicaSets: [], pods: sts.pods as Pod[] } };
    expect(gateState([db], view, [before(sts.statefulSet)]).unchanged).toBe(true);
    const changed = gateState([db], view, [before(sts.statefulSet, (sts.statefulSet.metadata.generation ?? 1) - 1)]);
    // Changed, and its new pod Ready: the gate holds all the same.
    expect([changed.unchanged, changed.ready]).toEqual([false, true]);
  });

  test('every workload of the phase must hold', () => {
    const f = migrated(deploymentFixture('rolling-in-progress'));
    const missing = { kind: 'Deployment', name: 'not-listed-yet' };
    expect(gateState([BACKEND, missing], viewOf(f), [before(f.deployment, 1)])).toEqual({ unchanged: false, ready: false, migrated: false });
  });
});
