import { describe, expect, test } from '@jest/globals';
import { readManifests, renderKustomize } from '../support/manifests.js';
import { UserError } from '../../src/errors.js';
import { parseImageReference, pinImage } from '../../src/image/reference.js';
import { objectId, type KubeObject } from '../../src/kube/objects.js';
import { CLUSTER_SCOPED_KINDS } from '../../src/kube/resources.js';
import {
  annotateConfigChecksums,
  annotateWorkloads,
  configReferences,
  leaveReplicasToScalers,
  podSpecPaths,
  setNamespace,
  substituteImage,
} from '../../src/manifests/substitute.js';

const render = (dir: string): KubeObject[] => renderKustomize(dir);

const find = (objects: KubeObject[], id: string): any => {
  const found = objects.find((o) => objectId(o) === id);
  if (!found) throw new Error(`${id} not in the manifests`);
  return found;
};

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const target = parseImageReference('ghcr.io/acme/medaudit-backend');
const pinned = pinImage(target, DIGEST);

const container = (name: string, image: string) => ({ name, image });
const podSpec = (image: string) => ({ containers: [container('main', image)] });

const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug' }, spec: podSpec('busybox:1.36') };
const cronJob: KubeObject = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'report', namespace: 'medaudit' },
  spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { spec: podSpec('medaudit-backend:latest') } } } },
};
const job: KubeObject = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'seed' },
  spec: { template: { spec: podSpec('ghcr.io/acme/medaudit-backend:v0') } },
};

describe('podSpecPaths', () => {
  test('finds the pod spec of each workload kind', () => {
    expect(podSpecPaths(pod)).toEqual([{ path: 'spec', spec: pod.spec }]);
    expect(podSpecPaths(job)).toEqual([{ path: 'spec.template.spec', spec: job.spec.template.spec }]);
    expect(podSpecPaths(cronJob)).toEqual([{ path: 'spec.jobTemplate.spec.template.spec', spec: cronJob.spec.jobTemplate.spec.template.spec }]);
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']) {
      const o = { apiVersion: 'apps/v1', kind, metadata: { name: 'x' }, spec: { template: { spec: podSpec('a') } } };
      expect(podSpecPaths(o)).toEqual([{ path: 'spec.template.spec', spec: o.spec.template.spec }]);
    }
  });

  test('returns the spec itself, so callers can edit it in place', () => {
    expect(podSpecPaths(pod)[0].spec).toBe(pod.spec);
  });

  test('has nothing for other kinds or a workload without a template', () => {
    expect(podSpecPaths({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { template: { spec: {} } } })).toEqual([]);
    expect(podSpecPaths({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } })).toEqual([]);
  });
});

describe('substituteImage on the repository manifests (k8s/)', () => {
  const objects = render('k8s');
  const before = structuredClone(objects);
  const result = substituteImage(objects, target, pinned);

  test('pins the backend, its migrate init container and the celery worker', () => {
    expect(result.changes).toEqual([
      {
        object: 'Deployment/medaudit/backend',
        container: 'backend',
        path: 'spec.template.spec.containers[0].image',
        from: 'medaudit-backend:latest',
        to: pinned,
      },
      {
        object: 'Deployment/medaudit/backend',
        container: 'migrate',
        path: 'spec.template.spec.initContainers[0].image',
        from: 'medaudit-backend:latest',
        to: pinned,
      },
      {
        object: 'Deployment/medaudit/celery-worker',
        container: 'celery-worker',
        path: 'spec.template.spec.containers[0].image',
        from: 'medaudit-backend:latest',
        to: pinned,
      },
    ]);
    const backend = find(result.objects, 'Deployment/medaudit/backend');
    expect(backend.spec.template.spec.containers[0].image).toBe(`ghcr.io/acme/medaudit-backend@${DIGEST}`);
    expect(backend.spec.template.spec.initContainers[0].image).toBe(pinned);
  });

  test('leaves the datastore images alone', () => {
    expect(find(result.objects, 'StatefulSet/medaudit/postgres').spec.template.spec.containers[0].image).toBe('postgres:16-alpine');
    expect(find(result.objects, 'StatefulSet/medaudit/redis').spec.template.spec.containers[0].image).toBe('redis:7-alpine');
  });

  test('does not touch its input: what it changes is a new object, the rest is passed on as it came', () => {
    expect(objects).toEqual(before);
    expect(result.objects).not.toBe(objects);
    const backend = objects.findIndex((o) => o.kind === 'Deployment' && o.metadata.name === 'backend');
    expect(result.objects[backend]).not.toBe(objects[backend]);
    expect(result.objects[0]).toBe(objects[0]);
  });

  test('changes nothing but the images', () => {
    const unpinned = structuredClone(result.objects);
    for (const { object, path: where } of result.changes) {
      const [, list, index] = /\.(\w+)\[(\d+)\]\.image$/.exec(where)!;
      find(unpinned, object).spec.template.spec[list][Number(index)].image = 'medaudit-backend:latest';
    }
    expect(unpinned).toEqual(objects);
  });
});

describe('substituteImage', () => {
  test('replaces in CronJobs, Jobs, Pods and ephemeral containers, by bare name or full repository', () => {
    const debugPod: KubeObject = {
      ...pod,
      spec: { containers: [container('main', 'busybox:1.36')], ephemeralContainers: [container('dbg', 'medaudit-backend')] },
    };
    const { objects, changes } = substituteImage([cronJob, job, debugPod], target, pinned);
    expect(changes.map(({ object, path: where, from }) => [object, where, from])).toEqual([
      ['CronJob/medaudit/report', 'spec.jobTemplate.spec.template.spec.containers[0].image', 'medaudit-backend:latest'],
      ['Job/seed', 'spec.template.spec.containers[0].image', 'ghcr.io/acme/medaudit-backend:v0'],
      ['Pod/debug', 'spec.ephemeralContainers[0].image', 'medaudit-backend'],
    ]);
    expect((objects[2].spec as any).containers[0].image).toBe('busybox:1.36');
    expect((objects[2].spec as any).ephemeralContainers[0].image).toBe(pinned);
  });

  test('explains what it found when nothing names the image', () => {
    const deployment: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'backend', namespace: 'medaudit' },
      spec: { template: { spec: { initContainers: [container('init', 'busybox')], containers: [container('web', 'nginx:1')] } } },
    };
    const postgres: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'postgres', namespace: 'medaudit' },
      spec: { template: { spec: podSpec('postgres:16-alpine') } },
    };
    const call = () => substituteImage([deployment, postgres], target, pinned);
    expect(call).toThrow(UserError);
    expect(call).toThrow(
      "no container image in the manifests names 'ghcr.io/acme/medaudit-backend' (by full repository or bare name 'medaudit-backend'); " +
        'images found: Deployment/medaudit/backend: nginx:1, busybox; StatefulSet/medaudit/postgres: postgres:16-alpine',
    );
  });

  test('says so when the manifests have no containers at all', () => {
    const config: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } };
    expect(() => substituteImage([config], target, pinned)).toThrow('images found: none');
  });
});

describe('annotateWorkloads', () => {
  const objects = render('k8s');
  const before = structuredClone(objects);
  const annotated = annotateWorkloads(objects, { 'medaudit.io/revision': 'abc123' });

  test('annotates the workloads themselves, keeping their annotations', () => {
    const withExisting: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', annotations: { keep: 'me', 'medaudit.io/revision': 'old' } },
      spec: { template: { metadata: {}, spec: {} } },
    };
    expect(annotateWorkloads([withExisting], { 'medaudit.io/revision': 'new' })[0].metadata.annotations).toEqual({
      keep: 'me',
      'medaudit.io/revision': 'new',
    });
    for (const id of ['Deployment/medaudit/backend', 'Deployment/medaudit/celery-worker', 'StatefulSet/medaudit/postgres']) {
      expect(find(annotated, id).metadata.annotations).toEqual({ 'medaudit.io/revision': 'abc123' });
    }
  });

  test('leaves pod templates and other kinds alone, and the input untouched', () => {
    expect(find(annotated, 'Deployment/medaudit/backend').spec.template).toEqual(find(objects, 'Deployment/medaudit/backend').spec.template);
    expect(find(annotated, 'Service/medaudit/backend-service').metadata.annotations).toBeUndefined();
    expect(find(annotated, 'ConfigMap/medaudit/medaudit-config')).toEqual(find(objects, 'ConfigMap/medaudit/medaudit-config'));
    expect(objects).toEqual(before);
  });
});

describe('leaveReplicasToScalers', () => {
  const deployment = (name: string, namespace?: string): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, ...(namespace && { namespace }) },
    spec: { replicas: 9, template: { spec: podSpec('a') } },
  });
  const hpa = (name: string, kind: string, namespace?: string, apiVersion = 'autoscaling/v2'): KubeObject => ({
    apiVersion,
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: `${name}-hpa`, ...(namespace && { namespace }) },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind, name }, minReplicas: 1, maxReplicas: 5 },
  });

  test('a count only within the bounds of an HPA in the same namespace that scales the object', () => {
    const objects = [
      deployment('web', 'a'),
      deployment('worker', 'a'),
      deployment('other-ns', 'b'),
      deployment('no-ns'),
      hpa('web', 'Deployment', 'a'),
      hpa('worker', 'StatefulSet', 'a'),
      hpa('other-ns', 'Deployment', 'a'),
      hpa('no-ns', 'Deployment', 'a', 'autoscaling/v1'),
    ];
    const before = structuredClone(objects);
    const result = leaveReplicasToScalers(objects);
    expect(result.map((o) => o.spec.replicas)).toEqual([5, 9, 9, 5, undefined, undefined, undefined, undefined]);
    expect(objects).toEqual(before);
  });

  test('ignores objects that only look like an HPA', () => {
    const fake = { ...hpa('web', 'Deployment'), apiVersion: 'example.com/v1' };
    expect(leaveReplicasToScalers([deployment('web'), fake])[0].spec.replicas).toBe(9);
  });

  test('on k8s/, a first install: backend and celery-worker start at their HPA minimum, the StatefulSets keep theirs', () => {
    const objects = render('k8s');
    expect(find(objects, 'Deployment/medaudit/backend').spec.replicas).toBeUndefined();
    const result = leaveReplicasToScalers(objects);
    expect(find(result, 'Deployment/medaudit/backend').spec.replicas).toBe(2);
    expect(find(result, 'Deployment/medaudit/celery-worker').spec.replicas).toBe(2);
    expect(find(result, 'StatefulSet/medaudit/postgres').spec.replicas).toBe(1);
    const withOne = objects.map((o) => (o.kind === 'Deployment' ? { ...o, spec: { ...o.spec, replicas: 1 } } : o));
    expect(find(leaveReplicasToScalers(withOne), 'Deployment/medaudit/backend').spec.replicas).toBe(2);
  });
});

describe('setNamespace', () => {
  test('moves every namespaced object and renames the Namespace', () => {
    // The base and the deployer's RBAC, which an admin applies on its own.
    const rbac: KubeObject[] = readManifests('k8s/deployer-rbac.yaml');
    const objects = [...render('k8s'), ...rbac];
    const before = structuredClone(objects);
    const moved = setNamespace(objects, 'medaudit-pr-42');
    const namespaces = moved.filter((o) => o.kind === 'Namespace');
    expect(namespaces.map((o) => o.metadata)).toEqual([{ ...find(objects, 'Namespace/medaudit').metadata, name: 'medaudit-pr-42' }]);
    expect(namespaces[0].metadata.namespace).toBeUndefined();
    for (const o of moved.filter((o) => o.kind !== 'Namespace')) expect(o.metadata.namespace).toBe('medaudit-pr-42');
    expect(find(moved, 'RoleBinding/medaudit-pr-42/medaudit-deployer').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'medaudit-deployer', namespace: 'medaudit-pr-42' },
    ]);
    expect(objects).toEqual(before);
  });

  test('leaves cluster-scoped objects and foreign subjects alone', () => {
    const clusterRole: KubeObject = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'reader' } };
    const binding: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'b', namespace: 'old' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' },
      subjects: [
        { kind: 'ServiceAccount', name: 'app', namespace: 'old' },
        { kind: 'ServiceAccount', name: 'monitor', namespace: 'kube-system' },
        { kind: 'Group', name: 'devs', apiGroup: 'rbac.authorization.k8s.io' },
      ],
    };
    const clusterBinding: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'cb' },
      subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: 'old' }],
    };
    const [role, movedBinding, movedClusterBinding] = setNamespace([clusterRole, binding, clusterBinding], 'new');
    expect(role).toEqual(clusterRole);
    expect(movedClusterBinding).toEqual(clusterBinding);
    expect(movedBinding.metadata.namespace).toBe('new');
    expect(movedBinding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'app', namespace: 'new' },
      { kind: 'ServiceAccount', name: 'monitor', namespace: 'kube-system' },
      { kind: 'Group', name: 'devs', apiGroup: 'rbac.authorization.k8s.io' },
    ]);
  });

  test('knows the cluster-scoped kinds', () => {
    for (const kind of [
      'Namespace',
      'ClusterRole',
      'ClusterRoleBinding',
      'PersistentVolume',
      'StorageClass',
      'CustomResourceDefinition',
      'PriorityClass',
      'IngressClass',
    ]) {
      expect(CLUSTER_SCOPED_KINDS).toContain(kind);
    }
    expect(CLUSTER_SCOPED_KINDS).not.toContain('PersistentVolumeClaim');
  });
});

describe('leaveReplicasToScalers with what runs', () => {
  const deployment = (name: string, replicas?: number): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { ...(replicas !== undefined && { replicas }), template: { spec: podSpec('a') } },
  });
  const hpa = (target: string): KubeObject => ({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: `${target}-hpa` },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target }, minReplicas: 2, maxReplicas: 5 },
  });

  test('a live HPA the manifests do not contain keeps the live count', () => {
    const [web] = leaveReplicasToScalers([deployment('web', 1)], { workloads: [deployment('web', 3)], autoscalers: [hpa('web')] });
    expect(web.spec.replicas).toBe(3);
  });

  test('a release that adds an HPA keeps the live count until the HPA takes over', () => {
    const [web] = leaveReplicasToScalers([deployment('web', 1), hpa('web')], { workloads: [deployment('web', 4)], autoscalers: [] });
    expect(web.spec.replicas).toBe(4);
  });

  test('a scaled workload that does not run yet starts at its live HPA minimum; an unscaled one keeps its own', () => {
    const [web, other, bare] = leaveReplicasToScalers([deployment('web', 1), deployment('other', 7), deployment('bare')], {
      workloads: [],
      autoscalers: [hpa('web'), hpa('bare')],
    });
    expect([web.spec.replicas, other.spec.replicas, bare.spec.replicas]).toEqual([2, 7, 2]);
  });

  test('an HPA without minReplicas starts the workload at 1, its default', () => {
    const noMin = hpa('web');
    delete noMin.spec.minReplicas;
    expect(leaveReplicasToScalers([deployment('web')], { workloads: [], autoscalers: [noMin] })[0].spec.replicas).toBe(1);
  });
});

describe('annotateConfigChecksums', () => {
  const config = (data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'medaudit-config' }, data });
  const checksum = (objects: KubeObject[], name = 'medaudit/backend') =>
    find(annotateConfigChecksums(objects), `Deployment/${name}`).spec.template.metadata.annotations?.['medaudit.io/config-checksum'];
  const k8s = () => render('k8s');
  const withConfig = (data: Record<string, string>) => k8s().map((o) => (o.kind === 'ConfigMap' && o.metadata.name === 'medaudit-config' ? { ...o, data } : o));

  test('on k8s/: backend and celery-worker read medaudit-config: a value change moves their checksum, and only theirs', () => {
    const a = withConfig({ LOG_LEVEL: 'info' });
    const b = withConfig({ LOG_LEVEL: 'debug' });
    expect(checksum(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(checksum(a)).not.toBe(checksum(b));
    expect(checksum(a, 'medaudit/celery-worker')).not.toBe(checksum(b, 'medaudit/celery-worker'));
    expect(checksum(a)).toBe(checksum(withConfig({ LOG_LEVEL: 'info' })));
    // The same data in another key order is the same config.
    expect(checksum(withConfig({ A: '1', B: '2' }))).toBe(checksum(withConfig({ B: '2', A: '1' })));
  });

  test('every way a pod reads config counts: env, envFrom, volumes, projected volumes', () => {
    const spec = {
      containers: [{ name: 'a', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }], envFrom: [{ configMapRef: { name: 'c1' } }] }],
      initContainers: [{ name: 'i', env: [{ name: 'Y', valueFrom: { configMapKeyRef: { name: 'c2', key: 'k' } } }] }],
      volumes: [
        { name: 'v', secret: { secretName: 's2' } },
        { name: 'p', projected: { sources: [{ configMap: { name: 'c3' } }, { secret: { name: 's3' } }] } },
      ],
    };
    expect(configReferences(spec).map((r) => `${r.kind}/${r.name}`)).toEqual([
      'Secret/s1',
      'ConfigMap/c1',
      'ConfigMap/c2',
      'Secret/s2',
      'ConfigMap/c3',
      'Secret/s3',
    ]);
  });

  test('a template that reads no config of the release is left as it is', () => {
    const objects = [config({ A: '1' }), deployment('web')];
    expect(annotateConfigChecksums(objects)[1]).toEqual(objects[1]);
  });

  function deployment(name: string): KubeObject {
    return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name }, spec: { template: { spec: podSpec('a') } } };
  }
});
