// A release is more than its pod templates: against the local cluster, a failed release returns
// whole (config, Secrets, Services, HPAs, PDBs, Ingresses, NetworkPolicies, added objects,
// images), a config-only release rolls the pods and is judged, a flaky first start is not a
// failure, and what cannot roll out or is not this release's to judge (a paused Deployment, an
// unchanged OnDelete StatefulSet, replicas a live HPA owns) is handled.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAction, sampleWorkspace, type ActionRun } from '../support/action.js';
import { docker, kubectl, kubectlJson, REGISTRY, tryKubectl, uniqueNamespace, readyImages } from '../support/cluster.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const namespaces: string[] = [];
let ws: string;
const digests: Record<string, string> = {};
// Not the released repository: the release's image is not substituted into it.
const CACHE_IMAGE = `${REGISTRY}/medaudit-cache:1`;

function image(tag: string, behaviour: string, ...buildArgs: string[]): void {
  const args = ['--build-arg', `SIM_BEHAVIOUR=${behaviour}`, '--build-arg', `SIM_MESSAGE=${tag}`, ...buildArgs.flatMap((a) => ['--build-arg', a])];
  docker(['build', '-q', '-f', path.join(ws, 'Dockerfile.prod'), ...args, '-t', `${IMAGE}:${tag}`, ws]);
  digests[tag] = /digest: (sha256:[0-9a-f]{64})/.exec(docker(['push', `${IMAGE}:${tag}`]))![1];
}

type Release = {
  config?: Record<string, string>;
  /** app-secret's TOKEN, applied as stringData (as k8s/secrets.yaml.example does). */
  token?: string;
  /** Env vars of web read from app-config by key (a missing key is a CreateContainerConfigError). */
  keys?: string[];
  extras?: boolean;
  replicas?: number;
  onDelete?: boolean;
  paused?: boolean;
  /** web's Service, HPA, PDB, Ingress and NetworkPolicy, as variant one or two. */
  policies?: 1 | 2;
};

/** The objects around web that are not workloads, each with a field that tells the variants apart. */
function policies(ns: string, v: 1 | 2): string[] {
  const meta = (name: string) => `metadata: {name: ${name}, namespace: ${ns}}`;
  return [
    `apiVersion: v1\nkind: Service\n${meta('web')}\nspec: {selector: {app: web}, ports: [{name: http, port: ${v === 1 ? 80 : 8080}, targetPort: 8000}]}`,
    `apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n${meta('web')}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 2, maxReplicas: ${v === 1 ? 4 : 6}, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]}`,
    `apiVersion: policy/v1\nkind: PodDisruptionBudget\n${meta('web')}\nspec: {selector: {matchLabels: {app: web}}, ${v === 1 ? 'minAvailable: 1' : 'maxUnavailable: 1'}}`,
    `apiVersion: networking.k8s.io/v1\nkind: Ingress\n${meta('web')}\nspec: {rules: [{host: ${v === 1 ? 'one' : 'two'}.medaudit.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}]}}]}`,
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n${meta('web')}\nspec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress], ingress: [{ports: [{port: ${v === 1 ? 8000 : 9000}}]}]}`,
  ];
}

const yamlMap = (m: Record<string, string>) =>
  `{${Object.entries(m)
    .map(([k, v]) => `${k}: "${v}"`)
    .join(', ')}}`;

function deployment(ns: string, name: string, r: Release, more: string[] = []): string {
  const env = (r.keys ?? []).map((k) => `{name: ${k}, valueFrom: {configMapKeyRef: {name: app-config, key: ${k}}}}`).join(', ');
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    `metadata: {name: ${name}, namespace: ${ns}}`,
    'spec:',
    ...(r.replicas !== undefined ? [`  replicas: ${r.replicas}`] : []),
    ...(r.paused ? ['  paused: true'] : []),
    `  selector: {matchLabels: {app: ${name}}}`,
    '  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}',
    '  template:',
    `    metadata: {labels: {app: ${name}}}`,
    '    spec:',
    '      terminationGracePeriodSeconds: 2',
    '      containers:',
    `      - name: ${name}`,
    '        image: medaudit-backend:dev',
    '        envFrom: [{configMapRef: {name: app-config}}]',
    `        env: [${env}]`,
    // Later than the crashing image's exit (1 s): its pods are never Ready.
    '        readinessProbe: {httpGet: {path: /health, port: 8000}, initialDelaySeconds: 2, periodSeconds: 2}',
    ...more,
  ].join('\n');
}

/** One release of a small app: its namespace, app-config, Deployment web, and what the case adds. */
function manifests(ns: string, r: Release): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-restore-'));
  const docs = [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}`,
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config, namespace: ${ns}}\ndata: ${yamlMap(r.config ?? { MODE: 'one' })}`,
    deployment(ns, 'web', { replicas: 2, ...r }),
  ];
  if (r.policies) docs.push(...policies(ns, r.policies));
  if (r.token) docs.push(`apiVersion: v1\nkind: Secret\nmetadata: {name: app-secret, namespace: ${ns}}\nstringData: {TOKEN: "${r.token}"}`);
  if (r.extras) {
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: {name: extra, namespace: ${ns}}\nspec: {selector: {app: extra}, ports: [{port: 80, targetPort: 8000}]}`,
    );
    docs.push(deployment(ns, 'extra', { replicas: 1 }));
  }
  if (r.onDelete) {
    docs.push(
      [
        'apiVersion: apps/v1',
        'kind: StatefulSet',
        `metadata: {name: cache, namespace: ${ns}}`,
        'spec:',
        '  replicas: 1',
        '  serviceName: cache',
        '  updateStrategy: {type: OnDelete}',
        '  selector: {matchLabels: {app: cache}}',
        '  template:',
        '    metadata: {labels: {app: cache}}',
        `    spec: {terminationGracePeriodSeconds: 2, containers: [{name: cache, image: "${CACHE_IMAGE}"}]}`,
      ].join('\n'),
    );
  }
  writeFileSync(path.join(dir, 'app.yaml'), docs.join('\n---\n') + '\n');
  return dir;
}

const release = (ns: string, tag: string, r: Release = {}, more: Record<string, string> = {}): Promise<ActionRun> =>
  runAction({ image: IMAGE, tag, build: 'false', namespace: ns, manifests: manifests(ns, r), timeout: '3m', ...more }, { cwd: ws });

async function deployed(ns: string, tag: string, r: Release = {}, more: Record<string, string> = {}): Promise<ActionRun> {
  const run = await release(ns, tag, r, more);
  if (run.outputs.status !== 'deployed') throw new Error(`release ${tag} did not deploy:\n${run.log}`);
  return run;
}

function freshNamespace(prefix: string): string {
  const ns = uniqueNamespace(prefix);
  namespaces.push(ns);
  return ns;
}

const get = (ns: string, what: string) => kubectlJson(['get', what, '-n', ns]);
const exists = (ns: string, what: string) => tryKubectl(['get', what, '-n', ns, '-o', 'name']).code === 0;

const detection = (run: ActionRun) => Number(/Failure detected ([\d.]+) s after/.exec(run.summary)?.[1]);

beforeAll(() => {
  ws = sampleWorkspace();
  image('restore-good1', 'healthy');
  image('restore-good2', 'healthy');
  image('restore-crash', 'crash');
  image('restore-flaky', 'crash-first', 'SIM_CRASHES=1');
  image('restore-crashes5', 'crash-first', 'SIM_CRASHES=5');
  docker(['tag', `${IMAGE}:restore-good1`, CACHE_IMAGE]);
  docker(['push', CACHE_IMAGE]);
}, 180_000);

afterAll(() => {
  for (const ns of namespaces) tryKubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('a failed release returns whole', () => {
  test('release 2 changes the ConfigMap, adds a Service and a Deployment, and crashes: all of it is undone', async () => {
    const ns = freshNamespace('medaudit-whole');
    await deployed(ns, 'restore-good1', { config: { MODE: 'one' }, token: 'token-one' });
    const r2 = await release(ns, 'restore-crash', { config: { MODE: 'two', ADDED: 'yes' }, extras: true, token: 'token-two-value' });
    expect(r2.outputs.status).toBe('rolled-back');
    expect(r2.code).toBe(1);
    // The ConfigMap holds release 1's data: the changed value back, the added key gone.
    expect(get(ns, 'configmap/app-config').data).toEqual({ MODE: 'one' });
    // The Secret too, and neither of its values is ever printed.
    expect(Buffer.from(get(ns, 'secret/app-secret').data.TOKEN, 'base64').toString()).toBe('token-one');
    for (const value of ['token-one', 'token-two-value']) {
      for (const text of [r2.log, r2.summary]) {
        expect(text).not.toContain(value);
        expect(text).not.toContain(Buffer.from(value).toString('base64'));
      }
    }
    expect(r2.summary).toMatch(/Secret\/app-secret: restored/);
    // What release 2 added is gone (a Deployment being deleted counts as gone).
    expect(exists(ns, 'service/extra')).toBe(false);
    const extra = tryKubectl(['get', 'deployment/extra', '-n', ns, '-o', 'json']);
    expect(extra.code !== 0 || !!JSON.parse(extra.stdout).metadata.deletionTimestamp).toBe(true);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['restore-good1']}`]));
    expect(r2.summary).toMatch(/ConfigMap\/app-config: restored to its state before the release/);
    expect(r2.summary).toMatch(/Service\/extra: deleted \(the failed release created it\)/);
    expect(r2.summary).toMatch(/Deployment\/extra: deleted/);
    // The next release deploys cleanly over the restored state.
    await deployed(ns, 'restore-good2', { config: { MODE: 'three' }, token: 'token-three' });
    expect(get(ns, 'configmap/app-config').data).toEqual({ MODE: 'three' });
  }, 300_000);

  test("a release that changes web's Service, HPA, PDB, Ingress and NetworkPolicy and fails: each is as release 1 left it", async () => {
    const ns = freshNamespace('medaudit-policies');
    const KINDS = ['Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress', 'NetworkPolicy'];
    const specs = () => Object.fromEntries(KINDS.map((k) => [k, get(ns, `${k.toLowerCase()}/web`).spec]));
    const restored = (run: ActionRun) => KINDS.filter((k) => run.summary.includes(`${k}/web: restored to its state before the release`));
    await deployed(ns, 'restore-good1', { policies: 1 });
    const before = specs();
    expect(before.PodDisruptionBudget).toEqual({ selector: { matchLabels: { app: 'web' } }, minAvailable: 1 });

    // Pods that crash: the Ingress is never applied (the edge waits for healthy workloads); the rest is restored.
    const crashed = await release(ns, 'restore-crash', { policies: 2 });
    expect(crashed.outputs.status).toBe('rolled-back');
    expect(restored(crashed)).toEqual(['Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy']);
    expect(specs()).toEqual(before);
    // The URL is where the restored release is served, not the failed release's host.
    expect(crashed.outputs.url).toBe('http://one.medaudit.test');
    expect(crashed.summary).toContain('URL: http://one.medaudit.test');

    // A health check that fails after the whole release, the Ingress included, was applied.
    const unhealthy = await release(ns, 'restore-good2', { policies: 2 }, { 'health-check-url': 'http://127.0.0.1:9/health', 'health-check-retries': '1' });
    expect(unhealthy.outputs.status).toBe('rolled-back');
    expect(unhealthy.log).toMatch(/apply edge: Ingress\/[^/]+\/web/);
    expect(restored(unhealthy)).toEqual(KINDS);
    // Field by field as release 1 left them: no field of release 2 remains (maxUnavailable), none of 1's is lost.
    const after = specs();
    expect(after).toEqual(before);
    expect([
      after.Service.ports[0].port,
      after.HorizontalPodAutoscaler.maxReplicas,
      after.Ingress.rules[0].host,
      after.NetworkPolicy.ingress[0].ports[0].port,
    ]).toEqual([80, 4, 'one.medaudit.test', 8000]);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['restore-good1']}`]));
  }, 300_000);

  test('a failed first install keeps what it created by default, and deletes it with delete-failed-install', async () => {
    const kept = freshNamespace('medaudit-keep');
    const r1 = await release(kept, 'restore-crash', { extras: true });
    expect(r1.outputs.status).toBe('failed');
    expect(exists(kept, 'service/extra')).toBe(true);
    const atomic = freshNamespace('medaudit-atomic');
    const r2 = await release(atomic, 'restore-crash', { extras: true }, { 'delete-failed-install': 'true' });
    expect(r2.outputs.status).toBe('rolled-back');
    expect(exists(atomic, 'service/extra')).toBe(false);
    expect(exists(atomic, 'configmap/app-config')).toBe(false);
  }, 300_000);
});

describe('config changes roll the pods', () => {
  test('a config-only release is a real rollout; one that drops a key the pods need is caught and undone, config included', async () => {
    const ns = freshNamespace('medaudit-config');
    await deployed(ns, 'restore-good1', { config: { MODE: 'one', KEY: 'k' }, keys: ['KEY'] });
    const revision = () => Number(get(ns, 'deployment/web').metadata.annotations['deployment.kubernetes.io/revision']);
    const before = revision();
    const r2 = await deployed(ns, 'restore-good1', { config: { MODE: 'two', KEY: 'k' }, keys: ['KEY'] });
    expect(revision()).toBe(before + 1);
    expect(r2.log).toMatch(/Deployment\/web ready/);
    const r3 = await release(ns, 'restore-good1', { config: { MODE: 'three' }, keys: ['KEY'] });
    expect(r3.outputs.status).toBe('rolled-back');
    expect(r3.log).toMatch(/CreateContainerConfigError/);
    expect(get(ns, 'configmap/app-config').data).toEqual({ MODE: 'two', KEY: 'k' });
    const pods = (kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=web']).items as any[]).filter((p) => !p.metadata.deletionTimestamp);
    expect(pods.every((p) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))).toBe(true);
  }, 300_000);
});

describe('the failure allowance', () => {
  const figures: string[] = [];
  afterAll(() => console.log(`crash detection (s after the first doomed pod started): ${figures.join('; ')}`));

  test('pods that crash once and then run: deployed, no rollback', async () => {
    const ns = freshNamespace('medaudit-flaky');
    await deployed(ns, 'restore-good1');
    const run = await release(ns, 'restore-flaky');
    expect(run.outputs).toMatchObject({ status: 'deployed', 'rolled-back': 'false' });
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['restore-flaky']}`]));
  }, 300_000);

  test.each([
    ['default allowance (1)', {}, 15],
    ['failures-allowed 0', { 'failures-allowed': '0' }, 5],
  ])(
    'pods that crash five times are rolled back, with the %s',
    async (label, more, goal) => {
      const ns = freshNamespace('medaudit-crashes');
      await deployed(ns, 'restore-good1');
      const run = await release(ns, 'restore-crashes5', {}, more);
      expect(run.outputs.status).toBe('rolled-back');
      expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['restore-good1']}`]));
      const seconds = detection(run);
      expect(Number.isFinite(seconds)).toBe(true);
      figures.push(`${label}: ${seconds.toFixed(1)} (goal ≤ ${goal})`);
    },
    300_000,
  );
});

describe('what cannot roll out, or is not this release to judge', () => {
  test('a paused Deployment is refused before anything is applied, naming it', async () => {
    const ns = freshNamespace('medaudit-paused');
    await deployed(ns, 'restore-good1');
    kubectl(['rollout', 'pause', 'deployment/web', '-n', ns]);
    const generation = get(ns, 'deployment/web').metadata.generation;
    const run = await release(ns, 'restore-good2');
    expect(run.code).toBe(1);
    expect(run.log).toMatch(/Deployment\/\S*web: is paused: .*kubectl rollout resume deployment\/web/);
    expect(get(ns, 'deployment/web').metadata.generation).toBe(generation);
    expect(get(ns, 'deployment/web').spec.template.spec.containers[0].image).toBe(`${IMAGE}@${digests['restore-good1']}`);
  }, 300_000);

  test('an OnDelete StatefulSet the release does not change is reported unchanged and never fails it', async () => {
    const ns = freshNamespace('medaudit-ondelete');
    await deployed(ns, 'restore-good1', { onDelete: true });
    const run = await deployed(ns, 'restore-good2', { onDelete: true });
    expect(run.log).toMatch(/StatefulSet\/cache unchanged/);
    expect(run.summary).toMatch(/StatefulSet\/cache .*unchanged/);
  }, 300_000);

  test('a live HPA at 3 replicas keeps 3 through a release and a rollback', async () => {
    const ns = freshNamespace('medaudit-hpa');
    await deployed(ns, 'restore-good1');
    kubectl(['autoscale', 'deployment/web', '-n', ns, '--min=3', '--max=5', '--cpu-percent=80']);
    const replicas = () => get(ns, 'deployment/web').spec.replicas;
    for (let i = 0; i < 120 && replicas() !== 3; i++) await new Promise((r) => setTimeout(r, 500));
    expect(replicas()).toBe(3);
    await deployed(ns, 'restore-good2');
    expect(replicas()).toBe(3);
    const r3 = await release(ns, 'restore-crash');
    expect(r3.outputs.status).toBe('rolled-back');
    expect(replicas()).toBe(3);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['restore-good2']}`]));
  }, 300_000);
});
