// The manifests of k8s/ against the real local cluster (npm run cluster:up):
//   1. the API server accepts every object of the base and of the preview
//      overlay (server-side dry-run);
//   2. the base, really applied, brings PostgreSQL, Redis, the backend and the
//      Celery workers to Ready, with the HPAs holding their minimum;
//   3. the deployer Role of k8s/deployer-rbac.yaml allows what the deploy
//      action does and nothing else.
// Each test works in a namespace of its own: the manifests are rendered by
// kustomize and moved from medaudit (or medaudit-preview) to that namespace.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { readManifests, renderKustomize } from '../support/manifests.js';
import { clusterEnv, kubectl, kubectlJson, secretsFromExample, tryKubectl, uniqueNamespace, waitFor } from '../support/cluster.js';

// Rendered manifests are plain JSON-like trees.
type Manifest = any;

const created: string[] = [];

afterAll(() => {
  for (const ns of created) tryKubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
});

function toYaml(objs: Manifest[]): string {
  // YAML 1.1 quoting: kubectl reads 1.1, where a bare yes (redis --appendonly) is a boolean.
  return objs.map((o) => YAML.stringify(o, { version: '1.1' })).join('---\n');
}

const id = (o: Manifest) => `${o.kind}/${o.metadata.name}`;

/**
 * Moves objects from namespace `from` to `to`: every field called namespace,
 * the Namespace object's name and a Role's resourceNames on namespaces. All
 * other names and labels (the pod-security ones included) stay as they are.
 */
function moveNamespace(objs: Manifest[], from: string, to: string): Manifest[] {
  const walk = (node: Manifest): Manifest => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'namespace' && v === from ? to : walk(v)]));
  };
  return objs.map((obj) => {
    const moved = walk(structuredClone(obj));
    if (moved.kind === 'Namespace' && moved.metadata.name === from) moved.metadata.name = to;
    if (moved.kind === 'Role') {
      for (const rule of moved.rules ?? []) {
        if (rule.resources?.includes('namespaces') && rule.resourceNames) {
          rule.resourceNames = rule.resourceNames.map((n: string) => (n === from ? to : n));
        }
      }
    }
    return moved;
  });
}

/** Creates the Namespace object (from the manifests) for real and registers it for deletion. */
function createNamespace(objs: Manifest[], ns: string): void {
  const namespace = objs.filter((o) => o.kind === 'Namespace');
  expect(namespace.map(id)).toEqual([`Namespace/${ns}`]);
  created.push(ns);
  kubectl(['apply', '--server-side', '-f', '-'], { input: toYaml(namespace) });
}

/** Server-side dry-run of everything; the output names each object once, and nothing is stored. */
function dryRun(objs: Manifest[], ns: string): void {
  const r = tryKubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: toYaml(objs) });
  expect([r.code, r.stderr]).toEqual([0, '']);
  for (const obj of objs) {
    const group = obj.apiVersion.includes('/') ? `.${obj.apiVersion.split('/')[0]}` : '';
    expect(r.stdout).toContain(`${obj.kind.toLowerCase()}${group}/${obj.metadata.name} serverside-applied (server dry run)`);
  }
  expect(r.stdout.trim().split('\n')).toHaveLength(objs.length);
  const stored = kubectlJson(['get', 'configmaps,services,deployments,statefulsets,persistentvolumeclaims', '-n', ns]);
  expect(stored.items.filter((o: Manifest) => o.metadata.name !== 'kube-root-ca.crt')).toEqual([]);
}

describe('server-side dry-run against the real API server', () => {
  test('the base (kubectl kustomize k8s) is accepted as a whole, without Pod Security warnings', () => {
    const ns = uniqueNamespace('e2e-dry-base');
    const objs = moveNamespace(renderKustomize('k8s'), 'medaudit', ns);
    expect(objs.length).toBeGreaterThan(20);
    // The action's kustomization holds no RBAC: the deployer may not write it.
    expect(objs.filter((o) => o.apiVersion.startsWith('rbac.authorization.k8s.io/'))).toEqual([]);
    createNamespace(objs, ns);
    // The namespace keeps its Pod Security labels, so the workloads are
    // checked against "restricted" (warn: a violation would show on stderr).
    const labels = kubectlJson(['get', 'namespace', ns]).metadata.labels;
    expect(labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
      'kubernetes.io/metadata.name': ns,
    });
    dryRun(objs, ns);
  });

  test('the preview overlay is accepted as a whole', () => {
    const ns = uniqueNamespace('e2e-dry-preview');
    const objs = moveNamespace(renderKustomize('k8s/overlays/preview', '--load-restrictor=LoadRestrictionsNone'), 'medaudit-preview', ns);
    expect(objs.map(id)).toContain('ResourceQuota/preview-quota');
    createNamespace(objs, ns);
    dryRun(objs, ns);
  });
});

describe('a real apply of the base', () => {
  const ns = uniqueNamespace('e2e-apply');
  let objs: Manifest[];

  beforeAll(() => {
    objs = moveNamespace(renderKustomize('k8s'), 'medaudit', ns);
    createNamespace(objs, ns);
    // The Secret is applied on its own, before the workloads that read it.
    kubectl(['apply', '--server-side', '-f', '-'], { input: secretsFromExample(ns) });
    kubectl(['apply', '--server-side', '-f', '-'], { input: toYaml(objs.filter((o) => o.kind !== 'Namespace')) });
  });

  test('every object exists in the namespace', () => {
    const names = kubectlJson([
      'get',
      'serviceaccounts,configmaps,secrets,services,persistentvolumeclaims,statefulsets,deployments,horizontalpodautoscalers,poddisruptionbudgets,ingresses,networkpolicies',
      '-n',
      ns,
    ]).items.map((o: Manifest) => `${o.kind}/${o.metadata.name}`);
    for (const obj of objs) if (obj.kind !== 'Namespace') expect(names).toContain(id(obj));
    expect(names).toContain('Secret/medaudit-secrets');
  });

  test('PostgreSQL and Redis StatefulSets become Ready, on bound volumes', () => {
    for (const name of ['postgres', 'redis']) {
      kubectl(['rollout', 'status', `statefulset/${name}`, '-n', ns, '--timeout=120s']);
      // rollout status of a StatefulSet looks at readyReplicas only; available
      // comes minReadySeconds (10) later.
      waitFor(`statefulset/${name}`, ns, 'jsonpath={.status.availableReplicas}=1', '60s');
      const sts = kubectlJson(['get', 'statefulset', name, '-n', ns]);
      expect([name, sts.status.readyReplicas, sts.status.availableReplicas]).toEqual([name, 1, 1]);
    }
    const claims = kubectlJson(['get', 'persistentvolumeclaims', '-n', ns]).items;
    expect(claims.map((c: Manifest) => c.metadata.name).sort()).toEqual(['file-storage-pvc', 'postgres-data-postgres-0', 'redis-data-redis-0']);
    for (const claim of claims) {
      expect([claim.metadata.name, claim.status.phase, claim.spec.storageClassName]).toEqual([claim.metadata.name, 'Bound', 'standard']);
    }
  }, 150_000);

  test('backend and celery-worker reach the HPA minimum of 2 Ready replicas', () => {
    for (const [deployment, hpa] of [
      ['backend', 'backend-hpa'],
      ['celery-worker', 'celery-worker-hpa'],
    ]) {
      // No spec.replicas in the manifest: the Deployment starts at 1 and the
      // HPA raises it to minReplicas.
      expect(kubectlJson(['get', 'hpa', hpa, '-n', ns]).spec.minReplicas).toBe(2);
      waitFor(`deployment/${deployment}`, ns, 'jsonpath={.spec.replicas}=2', '60s');
      waitFor(`deployment/${deployment}`, ns, 'jsonpath={.status.readyReplicas}=2', '120s');
      kubectl(['rollout', 'status', `deployment/${deployment}`, '-n', ns, '--timeout=120s']);
      const d = kubectlJson(['get', 'deployment', deployment, '-n', ns]);
      expect([deployment, d.spec.replicas, d.status.readyReplicas, d.status.availableReplicas, d.status.updatedReplicas]).toEqual([deployment, 2, 2, 2, 2]);
      const status = kubectlJson(['get', 'hpa', hpa, '-n', ns]).status;
      expect([hpa, status.desiredReplicas]).toEqual([hpa, 2]);
    }
  }, 200_000);

  test('the backend pods ran the migration first and run as the restricted profile allows', () => {
    const pods = kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=backend']).items;
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.status.phase).toBe('Running');
      expect(pod.status.initContainerStatuses.map((c: Manifest) => [c.name, c.state.terminated?.exitCode])).toEqual([['migrate', 0]]);
      expect(pod.spec.serviceAccountName).toBe('medaudit-backend');
      expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    }
  });
});

describe('the deployer Role (k8s/deployer-rbac.yaml)', () => {
  const ns = uniqueNamespace('e2e-deployer');
  const rendered = () => moveNamespace(renderKustomize('k8s'), 'medaudit', ns);
  let dir: string;
  let env: Record<string, string>;

  // kubectl with the deployer's token.
  const asDeployer = (args: string[], input?: string) => tryKubectl(args, { input, env });
  const canI = (...args: string[]) => asDeployer(['auth', 'can-i', ...args]).stdout.trim();

  beforeAll(() => {
    const objs = rendered();
    createNamespace(objs, ns);
    // What a cluster admin applies once, on its own.
    const rbac = moveNamespace(readManifests('k8s/deployer-rbac.yaml'), 'medaudit', ns);
    kubectl(['apply', '--server-side', '-f', '-'], { input: toYaml(rbac) });
    const token = kubectl(['create', 'token', 'medaudit-deployer', '-n', ns, '--duration=10m']).trim();

    // Server and CA of the admin kubeconfig, the token instead of the admin's certificate.
    const adminPath = clusterEnv().KUBECONFIG;
    const admin = YAML.parse(readFileSync(adminPath, 'utf8'));
    const context = admin.contexts.find((c: Manifest) => c.name === admin['current-context']).context;
    const cluster = admin.clusters.find((c: Manifest) => c.name === context.cluster).cluster;
    const ca =
      cluster['certificate-authority-data'] ?? readFileSync(path.resolve(path.dirname(adminPath), cluster['certificate-authority'])).toString('base64');
    dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-deployer-'));
    chmodSync(dir, 0o700);
    const file = path.join(dir, 'kubeconfig');
    writeFileSync(
      file,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': ca } }],
        users: [{ name: 'medaudit-deployer', user: { token } }],
        contexts: [{ name: 'deployer', context: { cluster: 'local', user: 'medaudit-deployer', namespace: ns } }],
        'current-context': 'deployer',
      }),
      { mode: 0o600 },
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
    env = { KUBECONFIG: file };
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the token is the ServiceAccount medaudit-deployer', () => {
    const r = asDeployer(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect([r.code, r.stdout]).toEqual([0, `system:serviceaccount:${ns}:medaudit-deployer`]);
  });

  test('kubectl auth can-i: yes for the deploy, no beyond it', () => {
    for (const args of [
      ['create', 'configmaps'],
      ['patch', 'configmaps'],
      ['patch', 'deployments.apps'],
      ['create', 'statefulsets.apps'],
      ['patch', 'horizontalpodautoscalers.autoscaling'],
      ['patch', 'networkpolicies.networking.k8s.io'],
      ['delete', 'pods'],
      // A rollback deletes what a failed release added.
      ['delete', 'deployments.apps'],
      ['delete', 'configmaps'],
      ['get', 'pods/log'],
      ['list', 'controllerrevisions.apps'],
      ['patch', `namespaces/${ns}`],
    ]) {
      expect([...args, canI(...args, '-n', ns)]).toEqual([...args, 'yes']);
    }
    for (const args of [
      ['create', 'configmaps', '-n', 'default'],
      ['get', 'secrets', '-n', 'default'],
      ['list', 'secrets', '-n', 'kube-system'],
      ['create', 'namespaces'],
      ['patch', 'namespaces/default', '-n', 'default'],
      ['create', 'clusterroles.rbac.authorization.k8s.io'],
      ['delete', 'deployments.apps', '-n', 'default'],
      ['delete', 'replicasets.apps', '-n', ns],
      ['delete', 'controllerrevisions.apps', '-n', ns],
      ['deletecollection', 'configmaps', '-n', ns],
      ['create', 'roles.rbac.authorization.k8s.io', '-n', ns],
      ['create', 'rolebindings.rbac.authorization.k8s.io', '-n', ns],
      ['create', 'pods/exec', '-n', ns],
    ]) {
      expect([...args, canI(...args)]).toEqual([...args, 'no']);
    }
  });

  test('the whole base kustomization passes a server-side dry-run with its token', () => {
    const r = asDeployer(['apply', '--server-side', '--dry-run=server', '-f', '-'], toYaml(rendered()));
    expect([r.code, r.stderr]).toEqual([0, '']);
  });

  test('server-side-applies the ConfigMap and the Namespace labels, patches the Deployment', () => {
    const objs = rendered();
    const configMap = objs.filter((o) => o.kind === 'ConfigMap');
    let r = asDeployer(['apply', '--server-side', '--field-manager=medaudit-deploy', '-f', '-'], toYaml(configMap));
    expect([r.code, r.stdout.trim(), r.stderr]).toEqual([0, 'configmap/medaudit-config serverside-applied', '']);
    expect(kubectlJson(['get', 'configmap', 'medaudit-config', '-n', ns]).data.POSTGRES_HOST).toBe('postgres-service');

    r = asDeployer(['apply', '--server-side', '--field-manager=medaudit-deploy', '-f', '-'], toYaml(objs.filter((o) => o.kind === 'Namespace')));
    expect([r.code, r.stderr]).toEqual([0, '']);

    // The Deployment with 0 replicas: this test is about rights, no pod needs to run.
    const deployment = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'backend');
    deployment.spec.replicas = 0;
    r = asDeployer(['apply', '--server-side', '--field-manager=medaudit-deploy', '-f', '-'], toYaml([deployment]));
    expect([r.code, r.stdout.trim(), r.stderr]).toEqual([0, 'deployment.apps/backend serverside-applied', '']);

    r = asDeployer([
      'patch',
      'deployment',
      'backend',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { template: { metadata: { annotations: { 'medaudit.example.com/e2e': 'patched' } } } } }),
    ]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    r = asDeployer(['set', 'image', 'deployment/backend', '-n', ns, 'migrate=medaudit-backend:e2e', 'backend=medaudit-backend:e2e']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const stored = kubectlJson(['get', 'deployment', 'backend', '-n', ns]);
    expect(stored.spec.template.metadata.annotations['medaudit.example.com/e2e']).toBe('patched');
    expect(stored.spec.template.spec.containers[0].image).toBe('medaudit-backend:e2e');
  });

  const forbidden = (r: { code: number; stderr: string }) => {
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Forbidden|forbidden/);
    expect(r.stderr).toContain(`system:serviceaccount:${ns}:medaudit-deployer`);
  };

  test('is refused in another namespace', () => {
    forbidden(asDeployer(['create', 'configmap', 'e2e-deployer-probe', '-n', 'default', '--from-literal=a=b']));
    forbidden(asDeployer(['get', 'secrets', '-n', 'default']));
    forbidden(asDeployer(['get', 'secrets', '-n', 'kube-system']));
    forbidden(asDeployer(['get', 'configmaps', '-n', 'kube-system']));
    forbidden(asDeployer(['label', 'namespace', 'default', 'medaudit.example.com/e2e=x']));
    expect(tryKubectl(['get', 'configmap', 'e2e-deployer-probe', '-n', 'default']).code).not.toBe(0);
  });

  test('is refused cluster-scoped writes', () => {
    forbidden(asDeployer(['create', 'namespace', `${ns}-other`]));
    forbidden(asDeployer(['create', 'clusterrole', 'e2e-deployer-probe', '--verb=get', '--resource=pods']));
    forbidden(asDeployer(['create', 'clusterrolebinding', 'e2e-deployer-probe', '--clusterrole=cluster-admin', `--serviceaccount=${ns}:medaudit-deployer`]));
    expect(tryKubectl(['get', 'namespace', `${ns}-other`]).code).not.toBe(0);
    expect(tryKubectl(['get', 'clusterrole', 'e2e-deployer-probe']).code).not.toBe(0);
  });

  test('is refused deleting what it does not apply (revision history), and deleting in bulk', () => {
    const rs = (kubectlJson(['get', 'replicasets', '-n', ns, '-l', 'app=backend']).items as { metadata: { name: string } }[])[0].metadata.name;
    forbidden(asDeployer(['delete', 'replicaset', rs, '-n', ns]));
    // DELETE on the collection is deletecollection, which the Role never grants.
    forbidden(asDeployer(['delete', '--raw', `/api/v1/namespaces/${ns}/configmaps`]));
    expect(kubectlJson(['get', 'deployment', 'backend', '-n', ns]).metadata.deletionTimestamp).toBeUndefined();
    expect(tryKubectl(['get', 'replicaset', rs, '-n', ns]).code).toBe(0);
  });

  test('is refused RBAC writes, even in its own namespace: why deployer-rbac.yaml is applied by an admin', () => {
    const rbac = moveNamespace(readManifests('k8s/deployer-rbac.yaml'), 'medaudit', ns);
    const r = asDeployer(['apply', '--server-side', '-f', '-'], toYaml(rbac.filter((o) => o.kind !== 'ServiceAccount')));
    forbidden(r);
    forbidden(asDeployer(['create', 'rolebinding', 'e2e-deployer-probe', '-n', ns, '--clusterrole=admin', `--serviceaccount=${ns}:medaudit-deployer`]));
  });
});
