// Checks the Kubernetes manifests in k8s/ as kustomize renders them: every
// name and figure the k8s/README.md promises, the security settings, the
// network flows and the preview overlay; and the deployer's RBAC, which is
// applied on its own by an admin and read straight from its file.
import { describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readManifests, renderKustomize } from '../support/manifests.js';

// Tests run compiled from lib/test/unit/.
const ROOT = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const K8S = path.join(ROOT, 'k8s');
const PREVIEW = path.join(K8S, 'overlays', 'preview');

// Rendered manifests are plain JSON-like trees; `any` keeps the probing short.
type Manifest = any;

const readYaml = (file: string): Manifest[] => readManifests(file);

const base = renderKustomize('k8s');
// The overlay sits inside its base, so it lists the base's files one by one;
// reading files above its own directory needs the relaxed load restrictor.
const preview = renderKustomize('k8s/overlays/preview', '--load-restrictor=LoadRestrictionsNone');

function find(objs: Manifest[], kind: string, name: string): Manifest {
  const hits = objs.filter((o) => o.kind === kind && o.metadata?.name === name);
  if (hits.length !== 1) throw new Error(`expected one ${kind}/${name}, found ${hits.length}`);
  return hits[0];
}

function ofKind(objs: Manifest[], kind: string): Manifest[] {
  return objs.filter((o) => o.kind === kind);
}

function ids(objs: Manifest[]): string[] {
  return objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

function podSpec(workload: Manifest): Manifest {
  return workload.spec.template.spec;
}

function container(workload: Manifest, name: string): Manifest {
  const hits = (podSpec(workload).containers as Manifest[]).filter((c) => c.name === name);
  if (hits.length !== 1) throw new Error(`no container ${name} in ${workload.metadata.name}`);
  return hits[0];
}

function initContainer(workload: Manifest, name: string): Manifest {
  const hits = ((podSpec(workload).initContainers ?? []) as Manifest[]).filter((c) => c.name === name);
  if (hits.length !== 1) throw new Error(`no init container ${name} in ${workload.metadata.name}`);
  return hits[0];
}

function allContainers(workload: Manifest): Manifest[] {
  return [...(podSpec(workload).initContainers ?? []), ...podSpec(workload).containers];
}

function resources(requestsMemory: string, requestsCpu: string, limitsMemory: string, limitsCpu: string): Manifest {
  return {
    requests: { memory: requestsMemory, cpu: requestsCpu },
    limits: { memory: limitsMemory, cpu: limitsCpu },
  };
}

function claimTemplate(statefulSet: Manifest, name: string): Manifest {
  const hits = (statefulSet.spec.volumeClaimTemplates as Manifest[]).filter((t) => t.metadata.name === name);
  if (hits.length !== 1) throw new Error(`no volumeClaimTemplate ${name}`);
  return hits[0];
}

function envFromNames(c: Manifest): string[] {
  return (c.envFrom ?? []).map((e: Manifest) => (e.configMapRef ? `configmap:${e.configMapRef.name}` : `secret:${e.secretRef?.name}`)).sort();
}

function mountPaths(c: Manifest): string[] {
  return (c.volumeMounts ?? []).map((m: Manifest) => m.mountPath).sort();
}

// Kinds that have no namespace: only the Namespace itself may appear.
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
  'Node',
  'CustomResourceDefinition',
  'PriorityClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'IngressClass',
  'ClusterIssuer',
]);

const BASE_OBJECTS = [
  'Namespace/medaudit',
  'ServiceAccount/medaudit-backend',
  'ServiceAccount/medaudit-worker',
  'ServiceAccount/medaudit-db',
  'ConfigMap/medaudit-config',
  'PersistentVolumeClaim/file-storage-pvc',
  'Service/postgres-service',
  'Service/redis-service',
  'Service/backend-service',
  'StatefulSet/postgres',
  'StatefulSet/redis',
  'Deployment/backend',
  'Deployment/celery-worker',
  'HorizontalPodAutoscaler/backend-hpa',
  'HorizontalPodAutoscaler/celery-worker-hpa',
  'PodDisruptionBudget/backend-pdb',
  'PodDisruptionBudget/celery-worker-pdb',
  'Ingress/medaudit-ingress',
  'NetworkPolicy/default-deny-all',
  'NetworkPolicy/allow-dns-egress',
  'NetworkPolicy/allow-ingress-to-backend',
  'NetworkPolicy/allow-postgres-from-app',
  'NetworkPolicy/allow-redis-from-app',
  'NetworkPolicy/allow-app-egress-to-datastores',
  'NetworkPolicy/allow-migrate-egress-to-postgres',
  'NetworkPolicy/allow-app-egress-to-nlp',
].sort();

// The seed's apply order, with the new files where they must go
// (ServiceAccounts before the pods that use them).
const KUSTOMIZE_RESOURCES = [
  'namespace.yaml',
  'serviceaccounts.yaml',
  'configmap.yaml',
  'storage-pvc.yaml',
  'network-policies.yaml',
  'postgres-statefulset.yaml',
  'redis-statefulset.yaml',
  'backend-deployment.yaml',
  'backend-hpa.yaml',
  'celery-deployment.yaml',
  'celery-hpa.yaml',
  'pdb.yaml',
  'ingress.yaml',
];

// Applied once by a cluster admin with kubectl apply -f, never by the deploy
// action (its Role may not write Roles and RoleBindings): not in the
// kustomization, like secrets.yaml.
const DEPLOYER_RBAC = 'deployer-rbac.yaml';
const DEPLOYER_OBJECTS = ['Role/medaudit-deployer', 'RoleBinding/medaudit-deployer', 'ServiceAccount/medaudit-deployer'];

// Files named in the structure tree of the original k8s README.
const SEED_FILES = [
  'namespace.yaml',
  'configmap.yaml',
  'secrets.yaml.example',
  'secrets.yaml',
  'storage-pvc.yaml',
  'postgres-statefulset.yaml',
  'redis-statefulset.yaml',
  'backend-deployment.yaml',
  'backend-hpa.yaml',
  'celery-deployment.yaml',
  'celery-hpa.yaml',
  'ingress.yaml',
  'kustomization.yaml',
  'README.md',
];

describe('base (kubectl kustomize k8s)', () => {
  test('contains exactly the expected objects', () => {
    expect(ids(base)).toEqual(BASE_OBJECTS);
  });

  test('kustomization lists the files in apply order, without secrets, images or name prefixes', () => {
    const [kustomization] = readYaml(path.join(K8S, 'kustomization.yaml'));
    expect(kustomization.resources).toEqual(KUSTOMIZE_RESOURCES);
    expect(kustomization.namespace).toBe('medaudit');
    expect(kustomization.images).toBeUndefined();
    expect(kustomization.namePrefix).toBeUndefined();
    expect(kustomization.nameSuffix).toBeUndefined();
  });

  test('every object is labelled part-of medaudit with a name, and lives in namespace medaudit', () => {
    for (const obj of base) {
      expect([obj.kind, obj.metadata.labels?.['app.kubernetes.io/part-of']]).toEqual([obj.kind, 'medaudit']);
      expect(obj.metadata.labels?.['app.kubernetes.io/name']).toEqual(expect.any(String));
      if (obj.kind !== 'Namespace') expect([obj.kind, obj.metadata.name, obj.metadata.namespace]).toEqual([obj.kind, obj.metadata.name, 'medaudit']);
    }
  });

  test('each file names namespace medaudit itself, for kubectl apply -f without kustomize', () => {
    for (const file of [...KUSTOMIZE_RESOURCES, DEPLOYER_RBAC]) {
      for (const obj of readYaml(path.join(K8S, file))) {
        const ns = obj.kind === 'Namespace' ? obj.metadata.name : obj.metadata.namespace;
        expect([file, obj.kind, obj.metadata.name, ns]).toEqual([file, obj.kind, obj.metadata.name, 'medaudit']);
      }
    }
  });

  test('nothing cluster-scoped except the Namespace', () => {
    const clusterScoped = base.filter((o) => CLUSTER_SCOPED.has(o.kind));
    expect(ids(clusterScoped)).toEqual(['Namespace/medaudit']);
  });

  test('namespace enforces the restricted Pod Security profile', () => {
    const labels = find(base, 'Namespace', 'medaudit').metadata.labels;
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  test('configmap medaudit-config holds the non-secret settings', () => {
    const data = find(base, 'ConfigMap', 'medaudit-config').data;
    expect(data).toMatchObject({
      POSTGRES_HOST: 'postgres-service',
      POSTGRES_PORT: '5432',
      POSTGRES_DB: 'medaudit_db',
      POSTGRES_USER: 'medaudit',
      REDIS_URL: 'redis://redis-service:6379/0',
      CELERY_BROKER_URL: 'redis://redis-service:6379/0',
      CELERY_RESULT_BACKEND: 'redis://redis-service:6379/1',
      LOG_LEVEL: 'INFO',
      UVICORN_WORKERS: '2',
      CELERY_CONCURRENCY: '2',
      FILE_STORAGE_PATH: '/app/storage',
    });
    expect(data.NLP_SERVICE_URL).toMatch(/^https?:\/\//);
    expect(data.CORS_ORIGINS).toMatch(/^https?:\/\//);
    // Passwords belong in the Secret.
    for (const key of Object.keys(data)) expect(key).not.toMatch(/PASSWORD|SECRET|DATABASE_URL/);
  });

  test('file-storage-pvc: 10Gi, StorageClass standard, shared by backend and Celery', () => {
    const pvc = find(base, 'PersistentVolumeClaim', 'file-storage-pvc');
    expect(pvc.spec.storageClassName).toBe('standard');
    expect(pvc.spec.resources.requests.storage).toBe('10Gi');
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
  });
});

describe('secrets.yaml.example', () => {
  const [secret] = readYaml(path.join(K8S, 'secrets.yaml.example'));

  test('is the Secret medaudit-secrets with stringData', () => {
    expect(secret.kind).toBe('Secret');
    expect(secret.metadata.name).toBe('medaudit-secrets');
    expect(secret.metadata.namespace).toBe('medaudit');
    expect(secret.data).toBeUndefined();
    expect(Object.keys(secret.stringData).sort()).toEqual(['DATABASE_URL', 'POSTGRES_PASSWORD', 'SECRET_KEY']);
  });

  test('every value is a CHANGE_ME_* placeholder', () => {
    for (const [key, value] of Object.entries(secret.stringData as Record<string, string>)) {
      if (key === 'DATABASE_URL') continue;
      expect([key, value]).toEqual([key, expect.stringMatching(/^CHANGE_ME_[A-Z_]+$/)]);
    }
  });

  test('DATABASE_URL uses asyncpg, the configmap settings and the same password', () => {
    expect(secret.stringData.DATABASE_URL).toBe(`postgresql+asyncpg://medaudit:${secret.stringData.POSTGRES_PASSWORD}@postgres-service:5432/medaudit_db`);
    expect(secret.stringData.POSTGRES_PASSWORD).toBe('CHANGE_ME_DB_PASSWORD');
  });

  test('the real secrets.yaml is ignored by git and not part of the kustomization', () => {
    const ignored = readFileSync(path.join(ROOT, '.gitignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toContain('k8s/secrets.yaml');
    expect(KUSTOMIZE_RESOURCES).not.toContain('secrets.yaml');
    expect(ofKind(base, 'Secret')).toEqual([]);
  });
});

describe('PostgreSQL and Redis', () => {
  const postgres = find(base, 'StatefulSet', 'postgres');
  const redis = find(base, 'StatefulSet', 'redis');

  test('postgres: image, labels, Service, 20Gi on standard, resources', () => {
    expect(postgres.spec.replicas).toBe(1);
    expect(postgres.spec.serviceName).toBe('postgres-service');
    expect(postgres.spec.selector.matchLabels).toEqual({ app: 'postgres' });
    expect(postgres.spec.template.metadata.labels.app).toBe('postgres');
    const c = container(postgres, 'postgres');
    expect(c.image).toBe('postgres:16-alpine');
    expect(c.ports).toEqual([expect.objectContaining({ containerPort: 5432 })]);
    expect(c.resources).toEqual(resources('256Mi', '250m', '1Gi', '1000m'));
    const data = claimTemplate(postgres, 'postgres-data');
    expect(data.spec.storageClassName).toBe('standard');
    expect(data.spec.resources.requests.storage).toBe('20Gi');
    expect(c.volumeMounts).toContainEqual({ name: 'postgres-data', mountPath: '/var/lib/postgresql/data' });

    const svc = find(base, 'Service', 'postgres-service');
    expect(svc.spec.selector).toEqual({ app: 'postgres' });
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: 5432, targetPort: 5432 })]);
  });

  test('postgres: readiness by pg_isready, credentials from the ConfigMap and Secret', () => {
    const c = container(postgres, 'postgres');
    expect(c.readinessProbe.exec.command.join(' ')).toContain('pg_isready');
    const env = Object.fromEntries((c.env as Manifest[]).map((e) => [e.name, e]));
    expect(env.POSTGRES_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: 'medaudit-secrets', key: 'POSTGRES_PASSWORD' });
    expect(env.POSTGRES_USER.valueFrom.configMapKeyRef).toEqual({ name: 'medaudit-config', key: 'POSTGRES_USER' });
    expect(env.POSTGRES_DB.valueFrom.configMapKeyRef).toEqual({ name: 'medaudit-config', key: 'POSTGRES_DB' });
    expect(env.PGDATA.value).toMatch(/^\/var\/lib\/postgresql\/data\/.+/);
  });

  test('redis: image, labels, Service, 5Gi on standard, resources, readiness by redis-cli ping', () => {
    expect(redis.spec.replicas).toBe(1);
    expect(redis.spec.serviceName).toBe('redis-service');
    expect(redis.spec.selector.matchLabels).toEqual({ app: 'redis' });
    expect(redis.spec.template.metadata.labels.app).toBe('redis');
    const c = container(redis, 'redis');
    expect(c.image).toBe('redis:7-alpine');
    expect(c.ports).toEqual([expect.objectContaining({ containerPort: 6379 })]);
    expect(c.resources).toEqual(resources('128Mi', '100m', '512Mi', '500m'));
    expect(c.readinessProbe.exec.command.join(' ')).toContain('redis-cli ping');
    const data = claimTemplate(redis, 'redis-data');
    expect(data.spec.storageClassName).toBe('standard');
    expect(data.spec.resources.requests.storage).toBe('5Gi');
    expect(c.volumeMounts).toContainEqual({ name: 'redis-data', mountPath: '/data' });

    const svc = find(base, 'Service', 'redis-service');
    expect(svc.spec.selector).toEqual({ app: 'redis' });
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: 6379, targetPort: 6379 })]);
  });
});

describe('backend and Celery', () => {
  const backend = find(base, 'Deployment', 'backend');
  const celery = find(base, 'Deployment', 'celery-worker');

  test('backend: image, port 8000, Service 80 -> 8000, resources, labels', () => {
    expect(backend.spec.selector.matchLabels).toEqual({ app: 'backend' });
    expect(backend.spec.template.metadata.labels.app).toBe('backend');
    const c = container(backend, 'backend');
    expect(c.image).toBe('medaudit-backend:latest');
    expect(c.ports).toEqual([expect.objectContaining({ containerPort: 8000 })]);
    expect(c.resources).toEqual(resources('512Mi', '500m', '2Gi', '2000m'));
    expect(envFromNames(c)).toEqual(['configmap:medaudit-config', 'secret:medaudit-secrets']);

    const svc = find(base, 'Service', 'backend-service');
    expect(svc.spec.selector).toEqual({ app: 'backend' });
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: 80, targetPort: 8000 })]);
  });

  test('backend: init container migrate runs alembic upgrade head with the same image (the migrate e2e test runs the command itself)', () => {
    const migrate = initContainer(backend, 'migrate');
    expect(migrate.image).toBe(container(backend, 'backend').image);
    expect(migrate.command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(migrate.command[2]).toContain('exec alembic upgrade head');
    expect(envFromNames(migrate)).toEqual(['configmap:medaudit-config', 'secret:medaudit-secrets']);
    expect(migrate.resources).toEqual(resources('512Mi', '500m', '2Gi', '2000m'));
  });

  test('backend: readiness and liveness on GET /health', () => {
    const c = container(backend, 'backend');
    expect(c.readinessProbe.httpGet).toEqual({ path: '/health', port: 8000 });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/health', port: 8000 });
  });

  test('celery-worker: same image, celery worker command, resources, labels', () => {
    expect(celery.spec.selector.matchLabels).toEqual({ app: 'celery-worker' });
    expect(celery.spec.template.metadata.labels.app).toBe('celery-worker');
    const c = container(celery, 'celery-worker');
    expect(c.image).toBe('medaudit-backend:latest');
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    expect(argv.slice(0, 4)).toEqual(['celery', '-A', 'app.worker', 'worker']);
    expect(argv).toContain('--concurrency=$(CELERY_CONCURRENCY)');
    expect(c.resources).toEqual(resources('512Mi', '500m', '2Gi', '2000m'));
    expect(envFromNames(c)).toEqual(['configmap:medaudit-config', 'secret:medaudit-secrets']);
    expect(c.ports).toBeUndefined();
  });

  test('celery-worker: probes ask the worker (inspect ping), never HTTP', () => {
    const c = container(celery, 'celery-worker');
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      expect(probe.httpGet).toBeUndefined();
      expect(probe.exec.command.join(' ')).toMatch(/celery -A app\.worker inspect ping -d "?celery@\$HOSTNAME/);
    }
  });

  test('both mount file-storage-pvc at /app/storage', () => {
    for (const [workload, name] of [
      [backend, 'backend'],
      [celery, 'celery-worker'],
    ] as const) {
      const volume = (podSpec(workload).volumes as Manifest[]).find((v) => v.persistentVolumeClaim);
      expect(volume.persistentVolumeClaim.claimName).toBe('file-storage-pvc');
      expect(container(workload, name).volumeMounts).toContainEqual({ name: volume.name, mountPath: '/app/storage' });
    }
  });

  test('HPA-scaled Deployments set no replicas, roll one pod at a time, fail fast', () => {
    for (const workload of [backend, celery]) {
      expect(workload.spec).not.toHaveProperty('replicas');
      expect(workload.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      expect(workload.spec.progressDeadlineSeconds).toBe(300);
      expect(workload.spec.minReadySeconds).toBe(10);
    }
  });

  test.each([
    ['backend-hpa', 'backend'],
    ['celery-worker-hpa', 'celery-worker'],
  ])('%s: 2..10 replicas of %s on CPU 70 %% and memory 80 %%', (name, target) => {
    const hpa = find(base, 'HorizontalPodAutoscaler', name);
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: target });
    expect(hpa.spec.minReplicas).toBe(2);
    expect(hpa.spec.maxReplicas).toBe(10);
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
      { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } } },
    ]);
  });

  test.each([
    ['backend-pdb', 'backend'],
    ['celery-worker-pdb', 'celery-worker'],
  ])('%s keeps one %s pod', (name, app) => {
    const pdb = find(base, 'PodDisruptionBudget', name);
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: { app } } });
  });
});

describe('ingress', () => {
  const ingress = find(base, 'Ingress', 'medaudit-ingress');

  test('api.medaudit.example.com over TLS to backend-service, class nginx, cert-manager ready', () => {
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.metadata.annotations['cert-manager.io/cluster-issuer']).toBe('letsencrypt-prod');
    expect(ingress.spec.tls).toEqual([{ hosts: ['api.medaudit.example.com'], secretName: 'medaudit-tls' }]);
    expect(ingress.spec.rules).toHaveLength(1);
    expect(ingress.spec.rules[0].host).toBe('api.medaudit.example.com');
    expect(ingress.spec.rules[0].http.paths).toEqual([
      { path: '/', pathType: 'Prefix', backend: { service: { name: 'backend-service', port: { number: 80 } } } },
    ]);
  });
});

describe('workload security', () => {
  // kind, name, service account, user, fsGroup, read-only root filesystem
  const WORKLOADS: Array<[string, string, string, number, number, boolean]> = [
    ['Deployment', 'backend', 'medaudit-backend', 1000, 1000, true],
    ['Deployment', 'celery-worker', 'medaudit-worker', 1000, 1000, true],
    ['StatefulSet', 'postgres', 'medaudit-db', 70, 70, false],
    ['StatefulSet', 'redis', 'medaudit-db', 999, 1000, true],
  ];

  test('exactly these four workloads exist', () => {
    const workloads = base.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod'].includes(o.kind));
    expect(ids(workloads)).toEqual(WORKLOADS.map(([kind, name]) => `${kind}/${name}`).sort());
  });

  test.each(WORKLOADS)('%s %s: non-root, no escalation, no capabilities, RuntimeDefault seccomp', (kind, name, sa, user, fsGroup, readOnly) => {
    const workload = find(base, kind, name);
    const spec = podSpec(workload);
    expect(workload.spec.revisionHistoryLimit).toBe(10);
    expect(spec.serviceAccountName).toBe(sa);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: user,
      fsGroup,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    for (const c of allContainers(workload)) {
      expect([c.name, c.securityContext]).toEqual([
        c.name,
        expect.objectContaining({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: readOnly,
          capabilities: { drop: ['ALL'] },
        }),
      ]);
      // Privileged or added capabilities would undo the above.
      expect(c.securityContext.privileged).not.toBe(true);
      expect(c.securityContext.capabilities.add).toBeUndefined();
      if (readOnly) {
        // A read-only root still needs a writable /tmp, backed by an emptyDir.
        const mount = (c.volumeMounts as Manifest[]).find((m) => m.mountPath === '/tmp');
        const volume = (spec.volumes as Manifest[]).find((v) => v.name === mount?.name);
        expect([c.name, volume?.emptyDir]).toEqual([c.name, {}]);
      }
    }
  });

  test('ServiceAccounts of the app mount no API token', () => {
    for (const name of ['medaudit-backend', 'medaudit-worker', 'medaudit-db']) {
      expect(find(base, 'ServiceAccount', name).automountServiceAccountToken).toBe(false);
    }
  });

  test('postgres can write its socket directory', () => {
    expect(mountPaths(container(find(base, 'StatefulSet', 'postgres'), 'postgres'))).toContain('/var/run/postgresql');
  });
});

describe('deployer RBAC (k8s/deployer-rbac.yaml, applied by an admin)', () => {
  // Read from the file itself: kustomize never renders it.
  const text = readFileSync(path.join(K8S, DEPLOYER_RBAC), 'utf8');
  const rbac: Manifest[] = readManifests(path.join(K8S, DEPLOYER_RBAC));
  const role = find(rbac, 'Role', 'medaudit-deployer');
  // Apply, and on a rollback delete what the failed release added.
  const APPLY = ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'];
  const READ = ['get', 'list', 'watch'];
  // [apiGroup, resource, verbs, resourceNames]
  const EXPECTED: Array<[string, string, string[], string[] | undefined]> = [
    ['', 'configmaps', APPLY, undefined],
    ['', 'secrets', APPLY, undefined],
    ['', 'services', APPLY, undefined],
    ['', 'persistentvolumeclaims', APPLY, undefined],
    ['', 'serviceaccounts', APPLY, undefined],
    ['apps', 'deployments', APPLY, undefined],
    ['apps', 'statefulsets', APPLY, undefined],
    ['autoscaling', 'horizontalpodautoscalers', APPLY, undefined],
    ['networking.k8s.io', 'ingresses', APPLY, undefined],
    ['networking.k8s.io', 'networkpolicies', APPLY, undefined],
    ['policy', 'poddisruptionbudgets', APPLY, undefined],
    ['', 'pods', [...READ, 'delete'], undefined],
    ['', 'pods/log', ['get'], undefined],
    ['', 'events', READ, undefined],
    ['events.k8s.io', 'events', READ, undefined],
    ['apps', 'replicasets', READ, undefined],
    ['apps', 'controllerrevisions', READ, undefined],
    ['', 'namespaces', ['get', 'patch'], ['medaudit']],
    // The deploy lock: read and renewed by name, created once.
    ['coordination.k8s.io', 'leases', ['get', 'update'], ['medaudit-deploy-lock']],
    ['coordination.k8s.io', 'leases', ['create'], undefined],
  ];

  // One line per (group, resource): rules may group resources as they like.
  function flatten(rules: Manifest[]): string[] {
    const lines: string[] = [];
    for (const rule of rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          const names = rule.resourceNames ? ` names=${[...rule.resourceNames].sort().join(',')}` : '';
          lines.push(`${group}/${resource}: ${[...rule.verbs].sort().join(',')}${names}`);
        }
      }
    }
    return lines.sort();
  }

  test('the Role grants exactly what the deploy action needs, in namespace medaudit', () => {
    expect(role.metadata.namespace).toBe('medaudit');
    const expected = EXPECTED.map(
      ([group, resource, verbs, names]) => `${group}/${resource}: ${[...verbs].sort().join(',')}${names ? ` names=${names.join(',')}` : ''}`,
    ).sort();
    expect(flatten(role.rules)).toEqual(expected);
  });

  test('no wildcards, no nonResourceURLs, no delete except pods and what the action creates, no RBAC management', () => {
    for (const rule of role.rules as Manifest[]) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames']) {
        expect(rule[field] ?? []).not.toContain('*');
      }
      expect(rule.nonResourceURLs).toBeUndefined();
      expect(rule.verbs).not.toContain('deletecollection');
      if (rule.verbs.includes('delete') && !rule.verbs.includes('create')) expect(rule.resources).toEqual(['pods']);
      expect(rule.verbs).not.toEqual(expect.arrayContaining(['escalate']));
      expect(rule.verbs).not.toEqual(expect.arrayContaining(['bind']));
      expect(rule.verbs).not.toEqual(expect.arrayContaining(['impersonate']));
      expect(rule.apiGroups).not.toContain('rbac.authorization.k8s.io');
      // A namespaces rule must stay pinned to this one namespace.
      if (rule.resources.includes('namespaces')) expect(rule.resourceNames).toEqual(['medaudit']);
    }
  });

  test('holds exactly the ServiceAccount, Role and RoleBinding medaudit-deployer, in namespace medaudit', () => {
    expect(ids(rbac)).toEqual(DEPLOYER_OBJECTS);
    for (const obj of rbac) {
      expect([obj.kind, obj.metadata.namespace]).toEqual([obj.kind, 'medaudit']);
      expect([obj.kind, obj.metadata.labels?.['app.kubernetes.io/part-of']]).toEqual([obj.kind, 'medaudit']);
      expect([obj.kind, obj.metadata.labels?.['app.kubernetes.io/name']]).toEqual([obj.kind, 'medaudit-deployer']);
    }
  });

  test('the ServiceAccount is used from outside the cluster only: no token mounted', () => {
    expect(find(rbac, 'ServiceAccount', 'medaudit-deployer').automountServiceAccountToken).toBe(false);
  });

  test('bound to the ServiceAccount medaudit-deployer by a RoleBinding, nothing cluster-wide', () => {
    const binding = find(rbac, 'RoleBinding', 'medaudit-deployer');
    expect(binding.metadata.namespace).toBe('medaudit');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'medaudit-deployer' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'medaudit-deployer', namespace: 'medaudit' }]);
    expect(rbac.filter((o) => CLUSTER_SCOPED.has(o.kind))).toEqual([]);
  });

  test('is not part of the kustomization: neither the base nor the preview renders it', () => {
    expect(KUSTOMIZE_RESOURCES).not.toContain(DEPLOYER_RBAC);
    const [kustomization] = readYaml(path.join(K8S, 'kustomization.yaml'));
    expect(kustomization.resources).not.toContain(DEPLOYER_RBAC);
    const [overlay] = readYaml(path.join(PREVIEW, 'kustomization.yaml'));
    expect(overlay.resources).not.toContain(`../../${DEPLOYER_RBAC}`);
    expect((overlay.patches ?? []).map((p: Manifest) => p.path).filter(Boolean)).not.toContain(expect.stringMatching(/deployer/));
    for (const objs of [base, preview]) {
      for (const id of DEPLOYER_OBJECTS) expect(ids(objs)).not.toContain(id);
      // The action applies what kustomize renders with the deployer's token,
      // which may not write RBAC objects.
      expect(objs.filter((o) => String(o.apiVersion).startsWith('rbac.authorization.k8s.io/'))).toEqual([]);
      expect(ofKind(objs, 'ServiceAccount').map((o) => o.metadata.name)).not.toContain('medaudit-deployer');
    }
  });

  test('its header says a cluster admin applies it once with kubectl apply -f, never the action', () => {
    const header = text
      .split('\n')
      .filter((line) => line.startsWith('#'))
      .join('\n');
    expect(header).toMatch(/cluster admin/);
    expect(header).toContain('kubectl apply -f k8s/deployer-rbac.yaml');
    expect(header).toMatch(/not part of kustomization\.yaml/);
    expect(header).toMatch(/never applies/);
  });
});

// A small NetworkPolicy evaluator: a flow is allowed when the source's egress
// and the destination's ingress both allow it (no selecting policy = allowed).
// ipBlock peers match external addresses only.
interface PodEnd {
  namespace: string;
  labels: Record<string, string>;
  ip?: undefined;
}
interface IpEnd {
  ip: string;
}
type End = PodEnd | IpEnd;

function matchesSelector(selector: Manifest, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const expr of selector.matchExpressions ?? []) {
    const has = expr.key in labels;
    const value = labels[expr.key];
    const ok =
      expr.operator === 'In'
        ? has && expr.values.includes(value)
        : expr.operator === 'NotIn'
          ? !has || !expr.values.includes(value)
          : expr.operator === 'Exists'
            ? has
            : expr.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(net) / size);
}

function peerMatches(peer: Manifest, policyNamespace: string, end: End): boolean {
  if (peer.ipBlock) {
    if (!end.ip) return false;
    return inCidr(end.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c: string) => inCidr(end.ip as string, c));
  }
  if (end.ip) return false;
  const pod = end as PodEnd;
  const namespaceLabels = { 'kubernetes.io/metadata.name': pod.namespace };
  if (peer.namespaceSelector) {
    if (!matchesSelector(peer.namespaceSelector, namespaceLabels)) return false;
  } else if (pod.namespace !== policyNamespace) {
    return false;
  }
  return matchesSelector(peer.podSelector, pod.labels);
}

function portMatches(ports: Manifest[] | undefined, port: number, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port));
}

function direction(policies: Manifest[], self: End, peer: End, port: number, protocol: string, kind: 'Ingress' | 'Egress'): boolean {
  if (self.ip) return true;
  const pod = self as PodEnd;
  const selecting = policies.filter(
    (p) => p.metadata.namespace === pod.namespace && (p.spec.policyTypes ?? ['Ingress']).includes(kind) && matchesSelector(p.spec.podSelector, pod.labels),
  );
  if (selecting.length === 0) return true;
  const field = kind === 'Ingress' ? 'ingress' : 'egress';
  const peers = kind === 'Ingress' ? 'from' : 'to';
  return selecting.some((p) =>
    (p.spec[field] ?? []).some(
      (rule: Manifest) =>
        portMatches(rule.ports, port, protocol) &&
        (!rule[peers] || rule[peers].length === 0 || rule[peers].some((peerSpec: Manifest) => peerMatches(peerSpec, p.metadata.namespace, peer))),
    ),
  );
}

function allowed(policies: Manifest[], from: End, to: End, port: number, protocol = 'TCP'): boolean {
  return direction(policies, from, to, port, protocol, 'Egress') && direction(policies, to, from, port, protocol, 'Ingress');
}

function networkFlows(objs: Manifest[], ns: string): void {
  const policies = ofKind(objs, 'NetworkPolicy');
  const pod = (app: string): PodEnd => ({ namespace: ns, labels: { app, 'app.kubernetes.io/part-of': 'medaudit' } });
  const backend = pod('backend');
  const celery = pod('celery-worker');
  const postgres = pod('postgres');
  const redis = pod('redis');
  const migrate = { namespace: ns, labels: { app: 'migrate' } };
  const stranger = { namespace: ns, labels: { run: 'debug' } };
  const nginx = { namespace: 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' } };
  const otherNs = { namespace: 'default', labels: { app: 'backend' } };
  const dns = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
  const nlp = { ip: '203.0.113.10' };

  // Needed flows.
  expect(allowed(policies, nginx, backend, 8000)).toBe(true);
  for (const app of [backend, celery]) {
    expect(allowed(policies, app, postgres, 5432)).toBe(true);
    expect(allowed(policies, app, redis, 6379)).toBe(true);
    expect(allowed(policies, app, nlp, 443)).toBe(true);
    expect(allowed(policies, app, nlp, 80)).toBe(true);
  }
  expect(allowed(policies, migrate, postgres, 5432)).toBe(true);
  for (const p of [backend, celery, postgres, redis, migrate, stranger]) {
    expect(allowed(policies, p, dns, 53, 'UDP')).toBe(true);
    expect(allowed(policies, p, dns, 53, 'TCP')).toBe(true);
  }

  // Everything else stays closed.
  expect(allowed(policies, nginx, backend, 8080)).toBe(false);
  expect(allowed(policies, nginx, postgres, 5432)).toBe(false);
  expect(allowed(policies, nginx, celery, 8000)).toBe(false);
  expect(allowed(policies, otherNs, backend, 8000)).toBe(false);
  expect(allowed(policies, otherNs, postgres, 5432)).toBe(false);
  expect(allowed(policies, stranger, postgres, 5432)).toBe(false);
  expect(allowed(policies, stranger, redis, 6379)).toBe(false);
  expect(allowed(policies, celery, backend, 8000)).toBe(false);
  expect(allowed(policies, backend, postgres, 6379)).toBe(false);
  expect(allowed(policies, migrate, redis, 6379)).toBe(false);
  expect(allowed(policies, redis, postgres, 5432)).toBe(false);
  expect(allowed(policies, postgres, nlp, 443)).toBe(false);
  expect(allowed(policies, redis, nlp, 443)).toBe(false);
  expect(allowed(policies, migrate, nlp, 443)).toBe(false);
  expect(allowed(policies, backend, nlp, 22)).toBe(false);
  expect(allowed(policies, backend, dns, 5353, 'UDP')).toBe(false);
  expect(allowed(policies, backend, { ip: '10.1.2.3' }, 443)).toBe(false);
  expect(allowed(policies, backend, { ip: '192.168.1.1' }, 443)).toBe(false);
  expect(allowed(policies, backend, { ip: '172.20.0.1' }, 443)).toBe(false);
  expect(allowed(policies, backend, { ip: '169.254.169.254' }, 80)).toBe(false);
}

describe('network policies', () => {
  test('deny by default in both directions', () => {
    const deny = find(base, 'NetworkPolicy', 'default-deny-all');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });

  test('allow exactly the flows the application needs', () => {
    networkFlows(base, 'medaudit');
  });
});

describe('README', () => {
  const readme = readFileSync(path.join(K8S, 'README.md'), 'utf8');

  function section(title: string): string {
    const start = readme.indexOf(`## ${title}\n`);
    if (start < 0) throw new Error(`README has no section ${title}`);
    const next = readme.indexOf('\n## ', start + 1);
    return readme.slice(start, next < 0 ? undefined : next);
  }

  // Paths of the structure tree, e.g. "overlays/preview/kustomization.yaml".
  function treePaths(): string[] {
    const block = /```\n(k8s\/\n[\s\S]*?)```/.exec(section('Структура файлов'));
    if (!block) throw new Error('no structure tree');
    const stack: string[] = [];
    const paths: string[] = [];
    for (const line of block[1].split('\n')) {
      const m = /^([│ ]*)[├└]── (\S+)/.exec(line);
      if (!m) continue;
      const depth = m[1].length / 4;
      stack.length = depth;
      const name = m[2].replace(/\/$/, '');
      stack.push(name);
      paths.push(stack.join('/'));
    }
    return paths;
  }

  function existsInK8s(relative: string): boolean {
    if (!relative.includes('*')) return existsSync(path.join(K8S, relative));
    const dir = path.join(K8S, path.dirname(relative));
    const pattern = new RegExp(`^${path.basename(relative).replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
    return existsSync(dir) && readdirSync(dir).some((f) => pattern.test(f));
  }

  test('the structure tree keeps every file of the original and lists the new ones', () => {
    const tree = treePaths();
    for (const file of [
      ...SEED_FILES,
      'serviceaccounts.yaml',
      'network-policies.yaml',
      'pdb.yaml',
      'deployer-rbac.yaml',
      'overlays/preview/kustomization.yaml',
    ]) {
      expect(tree).toContain(file);
    }
  });

  test('every file in the structure tree exists (secrets.yaml is made by the user)', () => {
    for (const file of treePaths()) {
      if (file === 'secrets.yaml') continue;
      expect([file, existsInK8s(file)]).toEqual([file, true]);
    }
  });

  test('every yaml file of k8s/ is in the structure tree', () => {
    const tree = treePaths();
    for (const file of readdirSync(K8S).filter((f) => /\.ya?ml/.test(f))) expect(tree).toContain(file);
  });

  test('every -f k8s/... path it applies exists (except the user-made secrets.yaml)', () => {
    const paths = [...readme.matchAll(/-f (k8s\/[\w./-]+)/g)].map((m) => m[1]);
    expect(paths.length).toBeGreaterThan(10);
    for (const p of paths) {
      if (p === 'k8s/secrets.yaml') continue;
      expect([p, existsSync(path.join(ROOT, p))]).toEqual([p, true]);
    }
    // Everything kustomize applies must also be in the manual order.
    for (const file of KUSTOMIZE_RESOURCES) expect(paths).toContain(`k8s/${file}`);
    // Namespace before the secrets and the deployer RBAC that go into it.
    expect(readme.indexOf('kubectl apply -f k8s/namespace.yaml')).toBeLessThan(readme.indexOf('kubectl apply -f k8s/secrets.yaml'));
    expect(paths).toContain(`k8s/${DEPLOYER_RBAC}`);
    expect(readme.indexOf('kubectl apply -f k8s/namespace.yaml')).toBeLessThan(readme.indexOf(`kubectl apply -f k8s/${DEPLOYER_RBAC}`));
  });

  test('the deployer RBAC is applied by an admin on its own, not with kubectl apply -k', () => {
    const quickStart = section('Быстрый старт');
    expect(quickStart).toContain(`kubectl apply -f k8s/${DEPLOYER_RBAC}`);
    const account = section('Автоматический деплой');
    expect(account).toContain(`kubectl apply -f k8s/${DEPLOYER_RBAC}`);
    expect(account).toMatch(/администратор/);
    // No claim left that kustomize applies it.
    expect(readme).not.toMatch(/в том числе `deployer-rbac\.yaml`/);
    expect(readme).not.toMatch(/вместе с `kubectl apply -k k8s\/`/);
  });

  test('the manual migration passes -n to kubectl and no password on the command line', () => {
    const migrations = section('Миграции базы данных');
    const command = /kubectl run alembic-migration[\s\S]*?--command -- [^\n]*/.exec(migrations.replace(/\\\n/g, ' '));
    if (!command) throw new Error('no kubectl run ... --command -- in the migrations section');
    const [kubectlPart, containerPart] = command[0].split('--command --');
    expect(kubectlPart).toMatch(/(^|\s)-n medaudit(\s|$)/);
    expect(containerPart.trim()).toBe('alembic upgrade head');
    expect(readme).not.toMatch(/password@/i);
    expect(readme).not.toMatch(/--env=["']?DATABASE_URL/);
    // The environment comes from the ConfigMap and the Secret.
    const overrides = /--overrides='([\s\S]*?)'/.exec(command[0]);
    if (!overrides) throw new Error('no --overrides');
    const spec = JSON.parse(overrides[1]).spec;
    expect(spec.containers[0].envFrom).toEqual([{ configMapRef: { name: 'medaudit-config' } }, { secretRef: { name: 'medaudit-secrets' } }]);
    expect(kubectlPart).toContain('--labels=app=migrate');
  });

  test('rollbacks name a revision', () => {
    const undo = readme.split('\n').filter((l) => l.trim().startsWith('kubectl rollout undo'));
    expect(undo.length).toBeGreaterThan(0);
    for (const line of undo) expect(line).toContain('--to-revision=');
  });

  test('documents automated deploys through the action and its workflows', () => {
    const auto = section('Автоматический деплой');
    for (const text of [
      'uses: org/medaudit-deploy@v1',
      'image:',
      'manifests: k8s',
      'kubeconfig:',
      '.github/workflows/deploy.yml',
      'release.yml',
      'workflow_dispatch',
      'preview.yml',
      'medaudit-pr-<N>',
      'k8s/overlays/preview',
      '--to-revision',
    ]) {
      expect(auto).toContain(text);
    }
  });
});

describe('preview overlay (k8s/overlays/preview)', () => {
  const [kustomization] = readYaml(path.join(PREVIEW, 'kustomization.yaml'));

  test('builds on every file of the base, in the same order', () => {
    expect(kustomization.resources).toEqual([...KUSTOMIZE_RESOURCES.map((f) => `../../${f}`), 'resource-quota.yaml']);
    expect(kustomization.namespace).toBe('medaudit-preview');
  });

  test('drops HPAs and PDBs, adds the quota, keeps the rest', () => {
    const dropped = [
      'HorizontalPodAutoscaler/backend-hpa',
      'HorizontalPodAutoscaler/celery-worker-hpa',
      'PodDisruptionBudget/backend-pdb',
      'PodDisruptionBudget/celery-worker-pdb',
      'Namespace/medaudit',
    ];
    const expected = [
      ...BASE_OBJECTS.filter((id) => !dropped.includes(id)),
      'Namespace/medaudit-preview',
      'ResourceQuota/preview-quota',
      'Secret/medaudit-secrets',
    ].sort();
    expect(ids(preview)).toEqual(expected);
  });

  test('everything is in namespace medaudit-preview and labelled part-of medaudit', () => {
    for (const obj of preview) {
      expect(obj.metadata.labels?.['app.kubernetes.io/part-of']).toBe('medaudit');
      if (obj.kind === 'Namespace') expect(obj.metadata.name).toBe('medaudit-preview');
      else expect([obj.kind, obj.metadata.name, obj.metadata.namespace]).toEqual([obj.kind, obj.metadata.name, 'medaudit-preview']);
    }
    // No reference to the production namespace survives (e.g. RoleBinding subjects).
    expect(namespaceFields(preview).filter((ns) => ns !== 'medaudit-preview')).toEqual([]);
  });

  test('its own preview-only secrets, with every key the example lists and no placeholder', () => {
    const secret = find(preview, 'Secret', 'medaudit-secrets');
    const example = readYaml(path.join(K8S, 'secrets.yaml.example')).find((d: Manifest) => d.kind === 'Secret');
    const keys = Object.keys(secret.data ?? {}).sort();
    expect(keys).toEqual(Object.keys(example.stringData).sort());
    const decoded = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    for (const v of Object.values(decoded)) expect(v).toMatch(/preview-only/);
    expect(decoded.DATABASE_URL).toBe(`postgresql+asyncpg://medaudit:${decoded.POSTGRES_PASSWORD}@postgres-service:5432/medaudit_db`);
  });

  test('one replica each of backend and celery-worker', () => {
    expect(find(preview, 'Deployment', 'backend').spec.replicas).toBe(1);
    expect(find(preview, 'Deployment', 'celery-worker').spec.replicas).toBe(1);
    expect(ofKind(preview, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(ofKind(preview, 'PodDisruptionBudget')).toEqual([]);
  });

  test('small requests and limits', () => {
    const backend = find(preview, 'Deployment', 'backend');
    expect(container(backend, 'backend').resources).toEqual(resources('64Mi', '50m', '512Mi', '500m'));
    expect(initContainer(backend, 'migrate').resources).toEqual(resources('64Mi', '50m', '512Mi', '500m'));
    expect(container(find(preview, 'Deployment', 'celery-worker'), 'celery-worker').resources).toEqual(resources('64Mi', '50m', '512Mi', '500m'));
    expect(container(find(preview, 'StatefulSet', 'postgres'), 'postgres').resources).toEqual(resources('64Mi', '50m', '256Mi', '250m'));
    expect(container(find(preview, 'StatefulSet', 'redis'), 'redis').resources).toEqual(resources('64Mi', '50m', '128Mi', '100m'));
    const data = find(preview, 'ConfigMap', 'medaudit-config').data;
    expect([data.UVICORN_WORKERS, data.CELERY_CONCURRENCY]).toEqual(['1', '1']);
  });

  test('small volumes', () => {
    const postgres = claimTemplate(find(preview, 'StatefulSet', 'postgres'), 'postgres-data');
    const redis = claimTemplate(find(preview, 'StatefulSet', 'redis'), 'redis-data');
    expect(postgres.spec.resources.requests.storage).toBe('1Gi');
    expect(redis.spec.resources.requests.storage).toBe('512Mi');
    expect(find(preview, 'PersistentVolumeClaim', 'file-storage-pvc').spec.resources.requests.storage).toBe('1Gi');
    expect(postgres.spec.storageClassName).toBe('standard');
  });

  test('per-preview host with TLS', () => {
    const ingress = find(preview, 'Ingress', 'medaudit-ingress');
    expect(ingress.spec.rules.map((r: Manifest) => r.host)).toEqual(['preview.medaudit.example.com']);
    expect(ingress.spec.tls).toEqual([{ hosts: ['preview.medaudit.example.com'], secretName: 'medaudit-tls' }]);
    expect(ingress.spec.ingressClassName).toBe('nginx');
  });

  test('ResourceQuota preview-quota', () => {
    expect(find(preview, 'ResourceQuota', 'preview-quota').spec.hard).toEqual({
      'requests.cpu': '2',
      'requests.memory': '4Gi',
      'limits.cpu': '4',
      'limits.memory': '8Gi',
      pods: '20',
      persistentvolumeclaims: '5',
    });
  });

  test('a full rollout (one extra pod per Deployment) fits the quota', () => {
    const quota = find(preview, 'ResourceQuota', 'preview-quota').spec.hard;
    const total: Record<string, number> = { 'requests.cpu': 0, 'requests.memory': 0, 'limits.cpu': 0, 'limits.memory': 0, pods: 0 };
    for (const workload of [...ofKind(preview, 'Deployment'), ...ofKind(preview, 'StatefulSet')]) {
      const surge = workload.kind === 'Deployment' ? workload.spec.strategy.rollingUpdate.maxSurge : 0;
      const pods = workload.spec.replicas + surge;
      total.pods += pods;
      for (const key of ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']) {
        const [kind, resource] = key.split('.');
        // Every container must say, or the quota rejects the pod.
        for (const c of allContainers(workload)) expect([c.name, key, c.resources?.[kind]?.[resource]]).toEqual([c.name, key, expect.any(String)]);
        const sum = (podSpec(workload).containers as Manifest[]).reduce((acc, c) => acc + quantity(c.resources[kind][resource]), 0);
        const init = ((podSpec(workload).initContainers ?? []) as Manifest[]).reduce((acc, c) => Math.max(acc, quantity(c.resources[kind][resource])), 0);
        total[key] += pods * Math.max(sum, init);
      }
    }
    for (const [key, used] of Object.entries(total)) expect([key, used <= quantity(quota[key])]).toEqual([key, true]);
    expect(ofKind(preview, 'PersistentVolumeClaim').length + ofKind(preview, 'StatefulSet').length).toBeLessThanOrEqual(Number(quota.persistentvolumeclaims));
  });

  test('network isolation is kept', () => {
    expect(ids(ofKind(preview, 'NetworkPolicy'))).toEqual(ids(ofKind(base, 'NetworkPolicy')));
    networkFlows(preview, 'medaudit-preview');
  });

  test('workloads keep their security settings', () => {
    for (const workload of [...ofKind(preview, 'Deployment'), ...ofKind(preview, 'StatefulSet')]) {
      const original = find(base, workload.kind, workload.metadata.name);
      expect(podSpec(workload).securityContext).toEqual(podSpec(original).securityContext);
      expect(podSpec(workload).automountServiceAccountToken).toBe(false);
      for (const c of allContainers(workload)) expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    }
  });
});

// Every value of a field called "namespace", at any depth.
function namespaceFields(node: Manifest): string[] {
  if (Array.isArray(node)) return node.flatMap(namespaceFields);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) => (key === 'namespace' && typeof value === 'string' ? [value] : namespaceFields(value)));
}

// Kubernetes quantities as plain numbers (cores, bytes, counts).
function quantity(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G)?$/.exec(String(value));
  if (!m) throw new Error(`unsupported quantity ${value}`);
  const factor: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? factor[m[2]] : 1);
}
