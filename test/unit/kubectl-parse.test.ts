// Reading kubectl's output (several JSON objects printed one after another) and working out what
// the deploying identity must be allowed to do for the repository manifests.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderKustomize } from '../support/manifests.js';
import { splitJsonStream } from '../../src/kube/kubectl.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { requiredPermissions } from '../../src/manifests/permissions.js';
import { resourceOf } from '../../src/kube/resources.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');

const render = (dir: string): KubeObject[] => renderKustomize(dir);

/** kubectl prints `-o json` with four spaces and a newline after each object. */
const printed = (objects: unknown[]) => objects.map((o) => `${JSON.stringify(o, null, 4)}\n`).join('');

describe('splitJsonStream', () => {
  const tricky = [
    { kind: 'ConfigMap', metadata: { name: 'braces' }, data: { template: '{{ .Values.x }} and } then {', closing: '}}}]]' } },
    { kind: 'Event', message: 'said "hello {world}" and left', quoted: '"}"', nested: { deeper: { list: [1, { x: ']' }, []] } } },
    { kind: 'Secret', path: 'C:\\data\\', endsInBackslash: '\\', backslashQuote: '\\"}{', unicode: 'é — ✓ \u0000 \n\t' },
    { kind: 'Empty', items: [], obj: {} },
  ];

  test('splits concatenated pretty-printed objects, whatever their strings hold', () => {
    expect(splitJsonStream(printed(tricky))).toEqual(tricky);
  });

  test('objects printed with no separator at all, or compact', () => {
    expect(splitJsonStream(tricky.map((o) => JSON.stringify(o)).join(''))).toEqual(tricky);
  });

  test('ignores text between objects that holds no brackets', () => {
    const text = `Warning: resource is deprecated\n${JSON.stringify(tricky[0], null, 4)}\n\nnote: done\n${JSON.stringify(tricky[1])}`;
    expect(splitJsonStream(text)).toEqual([tricky[0], tricky[1]]);
  });

  test('drops an object cut off at the end', () => {
    const text = `${printed(tricky.slice(0, 2))}{\n    "kind": "Pod",\n    "metadata": {\n        "name": "cut`;
    expect(splitJsonStream(text)).toEqual(tricky.slice(0, 2));
  });

  test('nothing in, nothing out', () => {
    expect(splitJsonStream('')).toEqual([]);
    expect(splitJsonStream('\n  \n')).toEqual([]);
  });

  test('pods captured from the cluster, printed one after another, come back unchanged', () => {
    const pods = ['image-not-found', 'crashloop', 'unschedulable'].flatMap(
      (name) => (JSON.parse(readFileSync(path.join(repoRoot, 'test', 'fixtures', 'status', `${name}.json`), 'utf8')) as { pods: KubeObject[] }).pods,
    );
    // The pull error message quotes the image: escaped quotes inside a string.
    expect(JSON.stringify(pods)).toContain('\\"');
    const parsed = splitJsonStream(printed(pods));
    expect(parsed).toHaveLength(pods.length);
    expect(parsed).toEqual(pods);
  });
});

describe('requiredPermissions for the repository manifests (k8s/)', () => {
  const objects = render('k8s');
  const has = (perms: ReturnType<typeof requiredPermissions>, verb: string, resource: string) =>
    perms.some((p) => p.verb === verb && (p.subresource ? `${p.resource}/${p.subresource}` : p.resource) === resource);

  test('the rendered manifests hold what these tests rely on', () => {
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of ['Namespace', 'Deployment', 'StatefulSet', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress', 'NetworkPolicy'])
      expect(kinds).toContain(kind);
    expect(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual(['medaudit']);
  });

  test('server-side apply of each kind: patch and create, namespaced', () => {
    const perms = requiredPermissions(objects, true);
    for (const resource of [
      'deployments.apps',
      'statefulsets.apps',
      'configmaps',
      'services',
      'serviceaccounts',
      'persistentvolumeclaims',
      'horizontalpodautoscalers.autoscaling',
      'poddisruptionbudgets.policy',
      'ingresses.networking.k8s.io',
      'networkpolicies.networking.k8s.io',
    ]) {
      expect(perms).toContainEqual({ verb: 'patch', resource, namespaced: true });
      expect(perms).toContainEqual({ verb: 'create', resource, namespaced: true });
    }
  });

  test('an existing namespace is only patched, by name', () => {
    const perms = requiredPermissions(objects, true);
    expect(perms).toContainEqual({ verb: 'patch', resource: 'namespaces/medaudit', namespaced: false });
    expect(perms.filter((p) => p.resource.startsWith('namespaces'))).toEqual([{ verb: 'patch', resource: 'namespaces/medaudit', namespaced: false }]);
  });

  test('a missing namespace must be created', () => {
    const perms = requiredPermissions(objects, false);
    expect(perms).toContainEqual({ verb: 'create', resource: 'namespaces', namespaced: false });
    expect(perms.filter((p) => p.resource.startsWith('namespaces'))).toEqual([{ verb: 'create', resource: 'namespaces', namespaced: false }]);
  });

  test('watching and explaining the rollout', () => {
    const perms = requiredPermissions(objects, true);
    for (const [verb, resource] of [
      ['list', 'pods'],
      ['watch', 'pods'],
      ['list', 'events'],
      ['get', 'pods/log'],
      ['list', 'replicasets.apps'],
      ['watch', 'replicasets.apps'],
      ['list', 'deployments.apps'],
      ['watch', 'deployments.apps'],
      ['list', 'statefulsets.apps'],
      ['watch', 'statefulsets.apps'],
    ]) {
      expect(has(perms, verb, resource)).toBe(true);
    }
  });

  test('StatefulSets add delete pods and list controllerrevisions.apps; without them neither is asked', () => {
    const perms = requiredPermissions(objects, true);
    expect(perms).toContainEqual({ verb: 'delete', resource: 'pods', namespaced: true });
    expect(perms).toContainEqual({ verb: 'list', resource: 'controllerrevisions.apps', namespaced: true });

    const without = requiredPermissions(
      objects.filter((o) => o.kind !== 'StatefulSet'),
      true,
    );
    expect(has(without, 'delete', 'pods')).toBe(false);
    expect(has(without, 'list', 'controllerrevisions.apps')).toBe(false);
    expect(has(without, 'list', 'statefulsets.apps')).toBe(false);
    expect(has(without, 'patch', 'deployments.apps')).toBe(true);
  });

  test('each permission is listed once', () => {
    const perms = requiredPermissions(objects, false);
    const keys = perms.map((p) => `${p.verb} ${p.resource}/${p.subresource ?? ''}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('cluster-scoped kinds are not namespaced', () => {
    const perms = requiredPermissions([{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x' } }], true);
    expect(perms).toContainEqual({ verb: 'patch', resource: 'clusterroles.rbac.authorization.k8s.io', namespaced: false });
  });
});

describe('resourceOf', () => {
  test('known kinds, with their API group', () => {
    expect(resourceOf({ apiVersion: 'apps/v1', kind: 'Deployment' })).toBe('deployments.apps');
    expect(resourceOf({ apiVersion: 'v1', kind: 'ConfigMap' })).toBe('configmaps');
    expect(resourceOf({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' })).toBe('ingresses.networking.k8s.io');
  });

  test('an unknown CRD kind: lower-case plural, qualified with the group of its apiVersion', () => {
    expect(resourceOf({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' })).toBe('certificates.cert-manager.io');
    expect(resourceOf({ apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' })).toBe('servicemonitors.monitoring.coreos.com');
    const perms = requiredPermissions([{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'tls' } }], true);
    expect(perms).toContainEqual({ verb: 'patch', resource: 'certificates.cert-manager.io', namespaced: true });
  });

  test('an unknown core kind has no group', () => {
    expect(resourceOf({ apiVersion: 'v1', kind: 'ReplicationController' })).toBe('replicationcontrollers');
  });
});

describe('secretLines: the kubeconfig values masked one by one', () => {
  test('YAML and JSON kubeconfigs, quoted or not', async () => {
    const { secretLines } = await import('../../src/kube/kubeconfig.js');
    const yaml = 'users:\n- name: u\n  user:\n    token: abcd1234efgh\n    client-key-data: LS0tS0VZ\n';
    expect(secretLines(yaml).sort()).toEqual(['LS0tS0VZ', 'abcd1234efgh']);
    const json = JSON.stringify({ users: [{ name: 'u', user: { token: 'tok-json-1', password: 'pw12' } }] });
    expect(secretLines(json).sort()).toEqual(['pw12', 'tok-json-1']);
    expect(secretLines('clusters: [{cluster: {server: https://x}}]')).toEqual([]);
  });
});
