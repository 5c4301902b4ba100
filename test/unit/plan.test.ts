import { describe, expect, test } from '@jest/globals';
import { renderKustomize } from '../support/manifests.js';
import { objectId, type KubeObject } from '../../src/kube/objects.js';
import { planPhases, workloadsOf, type Phase } from '../../src/manifests/plan.js';

const render = (dir: string): KubeObject[] => renderKustomize(dir);

const summary = (phases: Phase[]) => phases.map(({ name, gate, objects }) => ({ name, gate, objects: objects.map(objectId) }));

const object = (kind: string, name: string, spec?: any): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: { name },
  ...(spec && { spec }),
});
const withPods = (kind: string, name: string, podSpec: any) => object(kind, name, { template: { spec: podSpec } });

describe('planPhases on the repository manifests (k8s/)', () => {
  const objects = render('k8s');
  const phases = planPhases(objects);

  test('follows the README order', () => {
    const ids = (kind: string) => objects.filter((o) => o.kind === kind).map(objectId);
    const configIds = objects
      .filter((o) => !['Namespace', 'StatefulSet', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress'].includes(o.kind))
      .map(objectId);
    expect(summary(phases)).toEqual([
      { name: 'namespace', gate: 'stored', objects: ['Namespace/medaudit'] },
      { name: 'config', gate: 'stored', objects: configIds },
      { name: 'data', gate: 'ready', objects: ['StatefulSet/medaudit/postgres', 'StatefulSet/medaudit/redis'] },
      { name: 'migrate', gate: 'migrated', objects: ['Deployment/medaudit/backend'] },
      {
        name: 'app',
        gate: 'ready',
        objects: objects
          .filter((o) => ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'].includes(o.kind) && o.metadata.name !== 'backend')
          .map(objectId),
      },
      { name: 'edge', gate: 'stored', objects: ids('Ingress') },
    ]);
  });

  test('puts the data and secrets the pods mount before the pods', () => {
    const config = phases.find((p) => p.name === 'config')!.objects.map(objectId);
    expect(config).toEqual(
      expect.arrayContaining([
        'ConfigMap/medaudit/medaudit-config',
        'PersistentVolumeClaim/medaudit/file-storage-pvc',
        'Service/medaudit/postgres-service',
        'ServiceAccount/medaudit/medaudit-backend',
        'NetworkPolicy/medaudit/default-deny-all',
      ]),
    );
    const app = phases.find((p) => p.name === 'app')!.objects.map(objectId);
    expect(app).toContain('Deployment/medaudit/celery-worker');
    expect(app).toContain('HorizontalPodAutoscaler/medaudit/backend-hpa');
    expect(app).toContain('PodDisruptionBudget/medaudit/backend-pdb');
  });

  test('keeps every object exactly once', () => {
    expect(phases.flatMap((p) => p.objects).length).toBe(objects.length);
    expect(new Set(phases.flatMap((p) => p.objects))).toEqual(new Set(objects));
  });

  test('waits for the workloads of each waiting phase', () => {
    expect(phases.map((p) => [p.name, workloadsOf(p).map(objectId)])).toEqual([
      ['namespace', []],
      ['config', []],
      ['data', ['StatefulSet/medaudit/postgres', 'StatefulSet/medaudit/redis']],
      ['migrate', ['Deployment/medaudit/backend']],
      ['app', ['Deployment/medaudit/celery-worker']],
      ['edge', []],
    ]);
  });
});

describe('planPhases', () => {
  test('sorts each kind into its phase, keeping input order', () => {
    const objects = [
      object('Ingress', 'web'),
      withPods('Deployment', 'worker', { containers: [] }),
      object('CronJob', 'report'),
      object('Widget', 'custom'),
      withPods('Deployment', 'api', { initContainers: [{ name: 'migrate' }], containers: [] }),
      object('Secret', 's'),
      withPods('Deployment', 'empty-init', { initContainers: [], containers: [] }),
      object('Pod', 'debug'),
      object('Job', 'seed'),
      object('DaemonSet', 'agent'),
      object('ReplicaSet', 'rs'),
      withPods('StatefulSet', 'db', { initContainers: [{ name: 'chown' }] }),
      object('Namespace', 'ns'),
      object('ResourceQuota', 'q'),
    ];
    expect(summary(planPhases(objects))).toEqual([
      { name: 'namespace', gate: 'stored', objects: ['Namespace/ns'] },
      { name: 'config', gate: 'stored', objects: ['Widget/custom', 'Secret/s', 'ResourceQuota/q'] },
      { name: 'data', gate: 'ready', objects: ['StatefulSet/db'] },
      { name: 'migrate', gate: 'migrated', objects: ['Deployment/api'] },
      {
        name: 'app',
        gate: 'ready',
        objects: ['Deployment/worker', 'CronJob/report', 'Deployment/empty-init', 'Pod/debug', 'Job/seed', 'DaemonSet/agent', 'ReplicaSet/rs'],
      },
      { name: 'edge', gate: 'stored', objects: ['Ingress/web'] },
    ]);
  });

  test('omits empty phases', () => {
    expect(planPhases([object('ConfigMap', 'c'), object('Ingress', 'i')]).map((p) => p.name)).toEqual(['config', 'edge']);
    expect(planPhases([])).toEqual([]);
  });

  test('workloadsOf keeps only what is watched: rollouts, and a migration Job (other Jobs are applied, not waited for)', () => {
    const app = planPhases([
      withPods('Deployment', 'd', {}),
      object('DaemonSet', 'ds'),
      object('Job', 'j'),
      object('Pod', 'p'),
      object('HorizontalPodAutoscaler', 'h'),
    ])[0];
    expect(app.name).toBe('app');
    expect(workloadsOf(app).map(objectId)).toEqual(['Deployment/d', 'DaemonSet/ds']);
  });

  test('a Job marked as the migration gates the app, as the migrate init container of the backend does', () => {
    const migration = { ...object('Job', 'migrate'), metadata: { name: 'migrate', annotations: { 'medaudit.io/migration': 'true' } } };
    const phases = planPhases([withPods('Deployment', 'worker', {}), migration, object('Job', 'seed'), object('StatefulSet', 'db')]);
    expect(phases.map((p) => [p.name, p.gate, p.objects.map(objectId)])).toEqual([
      ['data', 'ready', ['StatefulSet/db']],
      ['migrate', 'migrated', ['Job/migrate']],
      ['app', 'ready', ['Deployment/worker', 'Job/seed']],
    ]);
    expect(phases.flatMap(workloadsOf).map(objectId)).toEqual(['StatefulSet/db', 'Job/migrate', 'Deployment/worker']);
  });
});
