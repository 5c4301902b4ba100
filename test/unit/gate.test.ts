// When a phase's gate holds, from statuses captured from the local cluster: the migration counts
// only when a pod of the new ReplicaSet got past its init containers, and whether an apply moved a
// workload at all (one it did not move is never watched, and holds its gate at once).
import { describe, expect, test } from '@jest/globals';
import type { Deployment, KubeObject, Pod } from '../../src/kube/objects.js';
import { gateState, initCompleted, migrationCompleted, newPodsReady } from '../../src/rollout/gate.js';
import { specMoved, type Snapshot } from '../../src/rollout/snapshot.js';
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

describe('specMoved: whether the apply moved a workload', () => {
  const f = deploymentFixture('healthy-complete');
  const generation = f.deployment.metadata.generation;
  test('the generation did not move: not moved', () => expect(specMoved(before(f.deployment), generation)).toBe(false));
  test('the generation moved: moved', () => expect(specMoved(before(f.deployment, 1), generation)).toBe(true));
  test('created by this apply, or not seen: moved', () => {
    expect(specMoved({ ...BACKEND, existed: false }, generation)).toBe(true);
    expect(specMoved(before(f.deployment), undefined)).toBe(true);
    expect(specMoved(undefined, generation)).toBe(true);
  });
});

describe('gateState of the workloads a phase changed', () => {
  test('a new backend rolling, its migration still running: neither Ready nor migrated', () => {
    const f = deploymentFixture('rolling-in-progress');
    expect(gateState([BACKEND], viewOf(f))).toEqual({ ready: false, migrated: false });
  });

  test('then migrated, while the rollout goes on', () => {
    const f = migrated(deploymentFixture('rolling-in-progress'));
    expect(gateState([BACKEND], viewOf(f))).toEqual({ ready: false, migrated: true });
  });

  test('a failed migration never holds the gate', () => {
    const f = deploymentFixture('migration-failed');
    expect(gateState([BACKEND], viewOf(f))).toEqual({ ready: false, migrated: false });
  });

  test('a database whose new pod is Ready holds the data gate', () => {
    const sts = statefulSetFixture('statefulset-ready');
    const db = { kind: 'StatefulSet', name: sts.statefulSet.metadata.name };
    const view: LiveView = { workload: (w) => (w.kind === 'StatefulSet' ? sts.statefulSet : undefined), related: { replicaSets: [], pods: sts.pods as Pod[] } };
    expect(gateState([db], view).ready).toBe(true);
  });

  test('every workload of the phase must hold', () => {
    const f = migrated(deploymentFixture('rolling-in-progress'));
    const missing = { kind: 'Deployment', name: 'not-listed-yet' };
    expect(gateState([BACKEND, missing], viewOf(f))).toEqual({ ready: false, migrated: false });
  });
});
