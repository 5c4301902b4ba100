// The action end to end, run as GitHub runs it, against the local cluster, registry and Docker
// engine: a first install of k8s/, an upgrade, and every failure the nodes can show, each rolled
// back to exactly the revision that ran before.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { kubectl, kubectlJson, REGISTRY, REPO, createAppNamespace, uniqueNamespace } from '../support/cluster.js';
import { runAction, sampleWorkspace, type ActionRun } from '../support/action.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const ns = uniqueNamespace('medaudit-e2e');
const overlay = (name: string) => path.join(REPO, 'test', 'fixtures', 'overlays', name);
let ws: string;

const deploy = (inputs: Record<string, string>) => runAction({ image: IMAGE, namespace: ns, timeout: '4m', ...inputs }, { cwd: ws });

function backend() {
  const d = kubectlJson(['get', 'deployment', 'backend', '-n', ns]);
  const spec = d.spec.template.spec;
  return {
    revision: Number(d.metadata.annotations['deployment.kubernetes.io/revision']),
    image: spec.containers[0].image as string,
    initImage: spec.initContainers[0].image as string,
    ready: d.status.readyReplicas ?? 0,
    updated: d.status.updatedReplicas ?? 0,
    replicas: d.status.replicas ?? 0,
  };
}

/** The backend's pods that are Ready, and the image each runs. */
function readyBackendImages(): string[] {
  const pods = kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=backend']).items as any[];
  return pods
    .filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
    .map((p) => p.spec.containers[0].image);
}

async function registryDigest(tag: string): Promise<string | null> {
  const res = await fetch(`http://${REGISTRY}/v2/medaudit-backend/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}

function expectRolledBack(run: ActionRun, before: ReturnType<typeof backend>, reason: RegExp) {
  expect(run.code).toBe(1);
  expect(run.outputs.status).toBe('rolled-back');
  expect(run.outputs['rolled-back']).toBe('true');
  expect(run.outputs['failure-reason']).toMatch(reason);
  // Detected by its signal, not by running out the rollout budget.
  expect(run.outputs['failure-reason']).not.toMatch(/not Ready within/);
  const after = backend();
  expect(after.image).toBe(before.image);
  expect(after.initImage).toBe(before.initImage);
  // Upstream gives the restored ReplicaSet a new, higher revision number.
  expect(after.revision).toBeGreaterThan(before.revision);
  expect(after.updated).toBe(after.replicas);
  expect(after.ready).toBeGreaterThanOrEqual(2);
  expect(new Set(readyBackendImages())).toEqual(new Set([before.image]));
  expect(run.summary).toContain('Rolled back');
  expect(run.summary).toContain('The database schema stays migrated');
  const revisions = JSON.parse(run.outputs.revisions);
  expect(revisions['Deployment/backend'].before).toBe(before.revision);
}

beforeAll(() => {
  ws = sampleWorkspace();
  createAppNamespace(ns);
});

afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('a release of k8s/ built from Dockerfile.prod', () => {
  test('first install: everything Ready, image pinned by digest, outputs set', async () => {
    const run = await deploy({ tag: 'e2e-v1' });
    expect(run.log).not.toMatch(/::error/);
    expect(run.code).toBe(0);
    const digest = await registryDigest('e2e-v1');
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run.outputs).toMatchObject({
      status: 'deployed',
      'rolled-back': 'false',
      tag: 'e2e-v1',
      digest: digest!,
      image: `${IMAGE}@${digest}`,
      'failure-reason': '',
    });
    expect(run.outputs.url).toBe('https://api.medaudit.example.com');
    expect(JSON.parse(run.outputs.revisions)).toEqual({
      'StatefulSet/postgres': { before: null, after: 1 },
      'StatefulSet/redis': { before: null, after: 1 },
      'Deployment/backend': { before: null, after: 1 },
      'Deployment/celery-worker': { before: null, after: 1 },
    });
    const b = backend();
    expect(b.image).toBe(`${IMAGE}@${digest}`);
    expect(b.initImage).toBe(`${IMAGE}@${digest}`);
    const celery = kubectlJson(['get', 'deployment', 'celery-worker', '-n', ns]);
    expect(celery.spec.template.spec.containers[0].image).toBe(`${IMAGE}@${digest}`);
    expect(celery.status.readyReplicas).toBeGreaterThanOrEqual(1);
    // Other images are never touched.
    expect(kubectlJson(['get', 'statefulset', 'postgres', '-n', ns]).spec.template.spec.containers[0].image).toBe('postgres:16-alpine');
    expect(kubectlJson(['get', 'statefulset', 'redis', '-n', ns]).status.readyReplicas).toBe(1);
    // The run is recorded where `kubectl rollout history` shows it.
    const d = kubectlJson(['get', 'deployment', 'backend', '-n', ns]);
    expect(d.metadata.annotations['kubernetes.io/change-cause']).toContain(`${IMAGE}@${digest}`);
    expect(d.metadata.annotations['medaudit.io/run-id']).toBe('4242');
    // Scaled by an HPA and new: it started at the HPA's minimum at once, not at 1 until the HPA's next sync.
    expect(kubectlJson(['get', 'hpa', 'backend-hpa', '-n', ns]).spec.minReplicas).toBe(2);
    expect(d.spec.replicas).toBe(2);
    expect(d.status.readyReplicas).toBe(2);
    expect(run.summary).toContain('| Deployment/backend |');
    expect(run.summary).toContain('Deployed');
  });

  test('upgrade: a new revision running the new digest', async () => {
    const before = backend();
    const run = await deploy({ tag: 'e2e-v2' });
    expect(run.code).toBe(0);
    const digest = await registryDigest('e2e-v2');
    const after = backend();
    expect(after.revision).toBe(before.revision + 1);
    expect(after.image).toBe(`${IMAGE}@${digest}`);
    expect(after.image).not.toBe(before.image);
    expect(JSON.parse(run.outputs.revisions)['Deployment/backend']).toEqual({ before: before.revision, after: after.revision });
    expect(new Set(readyBackendImages())).toEqual(new Set([after.image]));
    // Nothing changed for the databases: same revision, no restart.
    expect(JSON.parse(run.outputs.revisions)['StatefulSet/postgres']).toEqual({ before: 1, after: 1 });
  });
});

describe('each failing release is rolled back to the revision that ran before', () => {
  const cases: [string, Record<string, string>, RegExp, RegExp][] = [
    [
      'crash loop',
      { tag: 'e2e-crash', 'build-args': 'SIM_BEHAVIOUR=crash\nSIM_MESSAGE=SECRET_KEY is not set' },
      /CrashLoopBackOff/,
      /RuntimeError: SECRET_KEY is not set/,
    ],
    ['OOMKilled', { tag: 'e2e-oom', 'build-args': 'SIM_BEHAVIOUR=oom' }, /OOMKilled/, /exit code 137/],
    ['migration init container failing', { tag: 'e2e-migration', 'build-args': 'SIM_BEHAVIOUR=migration-fail' }, /InitContainerFailed/, /DuplicateTable/],
    ['image missing from the registry', { tag: 'e2e-unpushed', push: 'false' }, /ErrImagePull|ImagePullBackOff/, /not found/],
    [
      'config error',
      { tag: 'e2e-config-error', manifests: overlay('config-error') },
      /CreateContainerConfigError/,
      /couldn't find key FEATURE_FLAGS in ConfigMap/,
    ],
    ['unschedulable', { tag: 'e2e-unschedulable', manifests: overlay('unschedulable') }, /Unschedulable/, /Insufficient cpu/],
  ];

  test.each(cases)('%s', async (_name, inputs, reason, diagnosis) => {
    const before = backend();
    const run = await deploy(inputs);
    expectRolledBack(run, before, reason);
    expect(run.log).toMatch(diagnosis);
    expect(run.log).toMatch(/hint: /);
  });

  test('readiness never passes: failed at the deadline, with the Unhealthy events', async () => {
    const before = backend();
    const run = await deploy({ tag: 'e2e-never-ready', 'build-args': 'SIM_BEHAVIOUR=never-ready', timeout: '40s' });
    expect(run.code).toBe(1);
    expect(run.outputs.status).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/not Ready within 40s: NotReady/);
    expect(run.log).toMatch(/Readiness probe failed/);
    expect(backend().image).toBe(before.image);
    expect(new Set(readyBackendImages())).toEqual(new Set([before.image]));
  });

  test('a health check failing after a clean rollout', async () => {
    const server = http.createServer((_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    try {
      const before = backend();
      const run = await deploy({ tag: 'e2e-health', 'health-check-url': url, 'health-check-retries': '2' });
      expectRolledBack(run, before, /health check .* failed after 2 attempts: status 503, want 200/);
      expect(run.outputs.url).toBe(url);
    } finally {
      server.close();
    }
  });

  // The whole rollout (celery-worker rolling beside the backend once it migrated) takes about 55 s:
  // the first pod dies at 75 s, inside the 45 s soak window.
  test('a crash some seconds after Ready is caught by the soak window', async () => {
    const before = backend();
    const run = await deploy({ tag: 'e2e-crash-late', 'build-args': 'SIM_BEHAVIOUR=crash-late\nSIM_CRASH_AFTER=75', soak: '45' });
    expectRolledBack(run, before, /while soaking: .*(RestartedWhileSoaking|CrashLoopBackOff)/);
  });

  test('config-only deploy (a rollout of its own), then a failing deploy: the config-only release comes back, config included', async () => {
    const before = backend();
    const goodTag = 'e2e-v2';
    const configOnly = await deploy({ tag: goodTag, build: 'false', manifests: overlay('config-change') });
    expect(configOnly.code).toBe(0);
    // The config checksum on the template: the pods restart on the new config, same image.
    const good = backend();
    expect(good.revision).toBe(before.revision + 1);
    expect(good.image).toBe(before.image);
    expect(kubectlJson(['get', 'configmap', 'medaudit-config', '-n', ns]).data.LOG_LEVEL).toBe('DEBUG');
    const run = await deploy({ tag: 'e2e-crash-2', 'build-args': 'SIM_BEHAVIOUR=crash' });
    expectRolledBack(run, good, /CrashLoopBackOff/);
    // The failing release set LOG_LEVEL back to the base's value; the rollback restored the config-only release's.
    expect(kubectlJson(['get', 'configmap', 'medaudit-config', '-n', ns]).data.LOG_LEVEL).toBe('DEBUG');
    // A blind undo would have gone to revision good-1, the release before the config change.
    expect(run.summary).toMatch(new RegExp(`Deployment/backend: revision \\d+ → ${good.revision}`));
  });
});
