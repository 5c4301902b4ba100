// deploy() end to end against a scripted cluster: the cluster answers each apply and undo with the
// statuses captured from the real one, so every path of the orchestration is reachable in seconds —
// phases in order, failures in a phase, in an apply, at the deadline, in the health check and the
// soak, a rollback step that fails, a list that fails for a moment, first installs and dry runs.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Docker } from '../../src/image/build.js';
import { parseInputs } from '../../src/inputs.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { deploy } from '../../src/pipeline.js';
import { consoleReporter } from '../../src/report/reporter.js';
import { atRevision, deploymentFixture, FIXTURE_NAMESPACE as NS, migrated, restarted, serveDeployment, type DeploymentFixture } from '../support/fixtures.js';
import { fails, ok, ScriptedKube } from '../support/scripted-kube.js';
import { heldBy } from '../../src/state/lock.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const HOLDER = { id: 'acme/app run 42 attempt 1 job deploy', url: 'https://ci.example/42' };
let registry: http.Server;
let health: http.Server;
let healthStatus = 200;
let image = '';
let healthUrl = '';

const listen = async (handler: http.RequestListener) => {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
};
const port = (s: http.Server) => (s.address() as AddressInfo).port;

beforeAll(async () => {
  // The registry stand-in serves the tag's digest, as the Distribution API does on HEAD.
  registry = await listen((req, res) => {
    const known = req.url === '/v2/capture/manifests/v1';
    res.writeHead(known ? 200 : 404, known ? { 'Docker-Content-Digest': DIGEST } : {}).end();
  });
  health = await listen((_req, res) => res.writeHead(healthStatus).end());
  image = `127.0.0.1:${port(registry)}/capture`;
  healthUrl = `http://127.0.0.1:${port(health)}/health`;
});
afterAll(() => {
  registry.close();
  health.close();
});

/** The manifests of a small release: namespace, config, the backend, a worker, an ingress. */
function manifests(opts: { worker?: boolean; noNamespace?: boolean; secret?: boolean; migrates?: boolean } = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pipeline-test-'));
  // With migrates, the backend runs its migration in an init container, as k8s/ does.
  const initContainers = (name: string) => (opts.migrates && name === 'backend' ? { initContainers: [{ name: 'migrate', image: 'capture:dev' }] } : {});
  const deployment = (name: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { ...initContainers(name), containers: [{ name, image: 'capture:dev' }] } },
    },
  });
  const objects = [
    ...(opts.noNamespace ? [] : [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }]),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: NS }, data: { LOG_LEVEL: 'info' } },
    deployment('backend'),
    ...(opts.worker ? [deployment('worker')] : []),
    ...(opts.secret
      ? [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app', namespace: NS }, stringData: { SECRET_KEY: 'hunter2-in-the-manifest' } }]
      : []),
    { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: NS }, spec: { rules: [{ host: 'medaudit.example.com' }] } },
  ];
  writeFileSync(path.join(dir, 'all.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  return dir;
}

/** The same captured rollout under another workload's name (and uids), for releases of two Deployments. */
function renamed(f: DeploymentFixture, name: string): DeploymentFixture {
  const text = JSON.stringify(f)
    .replaceAll('backend', name)
    .replace(/"([0-9a-f]{8})(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"/g, '"ffffffff$2"');
  return JSON.parse(text) as DeploymentFixture;
}

type Setup = {
  inputs?: Record<string, string>;
  /** What the cluster shows after the apply of a phase holding these kinds. */
  onApply?: (kinds: string[]) => void | Promise<void> | { code: number; stdout: string; stderr: string };
  worker?: boolean;
  noNamespace?: boolean;
  secret?: boolean;
  migrates?: boolean;
  namespaceExists?: boolean;
};

function setup(s: Setup = {}) {
  const kube = new ScriptedKube(NS);
  const lines: string[] = [];
  const reporter = consoleReporter((text) => lines.push(...text.replace(/\n$/, '').split('\n')));
  const docker: Docker = { run: () => Promise.reject(new Error('docker is not used with build: false')) };
  serveDeployment(kube, deploymentFixture('healthy-complete'));
  if (s.worker) serveDeployment(kube, renamed(deploymentFixture('healthy-complete'), 'worker'));
  if (s.namespaceExists === false) kube.on(/^get namespace \S+ --ignore-not-found -o name$/, ok(''));
  kube.on(/^apply --server-side --field-manager=medaudit-deploy --force-conflicts /, async (args, input) => {
    const kinds = (JSON.parse(input!) as { items: KubeObject[] }).items.map((o) => o.kind);
    if (args.includes('--dry-run=server') && s.namespaceExists === false) {
      // What the real server answers for a namespace that does not exist yet.
      return {
        code: 1,
        stdout: `namespace/${NS} serverside-applied (server dry run)\n`,
        stderr: `Error from server (NotFound): namespaces "${NS}" not found\n`,
      };
    }
    if (!args.includes('--dry-run=server')) {
      const r = await s.onApply?.(kinds);
      if (r) return r;
    }
    return ok(kinds.map((k) => `${k.toLowerCase()} serverside-applied`).join('\n'));
  });
  kube.on(/^logs /, ok('Traceback (most recent call last):\nRuntimeError: boom\n'));
  kube.on(/^get events /, ok('{"items":[]}'));
  const values: Record<string, string> = {
    image,
    tag: 'v1',
    build: 'false',
    manifests: manifests({ worker: s.worker, noNamespace: s.noNamespace, secret: s.secret, migrates: s.migrates }),
    // The captured crash loop is a first crash: these tests judge it as failures-allowed 0 does.
    'failures-allowed': '0',
    ...s.inputs,
  };
  const inputs = parseInputs((name) => values[name] ?? '', { defaultManifests: 'k8s' });
  const cancel = new AbortController();
  const run = () => deploy(inputs, { cwd: process.cwd(), sha: 'a'.repeat(40), runId: '42', holder: HOLDER }, { kube, docker, reporter, signal: cancel.signal });
  return { kube, lines, run, cancel };
}

/** Undo restores the captured healthy release under a new, higher revision number, as upstream does. */
const undoRestores = (kube: ScriptedKube, revision = 4) =>
  kube.on(/^rollout undo deployment\/backend /, () => {
    serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), revision));
    return ok('deployment.apps/backend rolled back\n');
  });

/** The names of the objects each apply held, phase by phase. */
const appliedNames = (kube: ScriptedKube) =>
  kube.calls
    .filter((c) => c.args[0] === 'apply' && !c.args.includes('--dry-run=server') && c.args.includes('--field-manager=medaudit-deploy'))
    .map((c) => (JSON.parse(c.input!) as { items: KubeObject[] }).items.map((o) => o.metadata.name).join(','));

const appliedKinds = (kube: ScriptedKube) =>
  kube.calls
    .filter((c) => c.args[0] === 'apply' && !c.args.includes('--dry-run=server') && c.args.includes('--field-manager=medaudit-deploy'))
    .map((c) => (JSON.parse(c.input!) as { items: KubeObject[] }).items.map((o) => o.kind).join(','));

describe('deploy() against a scripted cluster', () => {
  test('a good release: validated on the server first, applied phase by phase, pinned by digest, deployed', async () => {
    const { kube, run } = setup({
      onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3'))),
    });
    const result = await run();
    expect(result).toMatchObject({ status: 'deployed', rolledBack: false, image: `${image}@${DIGEST}`, digest: DIGEST, url: 'http://medaudit.example.com' });
    expect(result.rows).toEqual([expect.objectContaining({ workload: 'Deployment/backend', image: 'backend', before: 2, after: 3, verdict: 'ready' })]);
    expect(appliedKinds(kube)).toEqual(['Namespace', 'ConfigMap', 'Deployment', 'Ingress']);
    // The whole release went through a server-side dry run before the first real apply.
    const first = kube.calls.findIndex((c) => c.args[0] === 'apply');
    expect(kube.calls[first].args).toContain('--dry-run=server');
    const applied = JSON.parse(
      kube.calls.find((c) => c.args[0] === 'apply' && c.input?.includes('"Deployment"') && !c.args.includes('--dry-run=server'))!.input!,
    );
    expect(applied.items[0].spec.template.spec.containers[0].image).toBe(`${image}@${DIGEST}`);
    expect(applied.items[0].metadata.annotations['medaudit.io/run-id']).toBe('42');
    expect(kube.called(/^rollout undo/)).toEqual([]);
  });

  test('a crash loop in the app phase: explained with the previous log, rolled back to exactly the recorded revision', async () => {
    const { kube, lines, run } = setup({ onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, deploymentFixture('crashloop'))) });
    undoRestores(kube);
    const result = await run();
    expect(result).toMatchObject({ status: 'rolled-back', rolledBack: true });
    expect(result.failureReason).toMatch(/^Deployment\/backend: CrashLoopBackOff: restarted \d+ times/);
    expect(kube.called(/^rollout undo/)).toEqual([`rollout undo deployment/backend -n ${NS} --to-revision=2`]);
    expect(kube.called(/^logs backend-6cc7b75ff5-4sxf4 .* --previous$/)).toHaveLength(1);
    expect(result.diagnoses[0].logs).toContain('RuntimeError: boom');
    expect(result.rows[0]).toMatchObject({ before: 2, after: 4 });
    // Nothing after the failing phase is applied.
    expect(appliedKinds(kube)).toEqual(['Namespace', 'ConfigMap', 'Deployment']);
    expect(result.detectionSeconds).toBeGreaterThan(0);
    expect(lines).toContain('rollback Deployment/backend: revision 3 → 2');
  });

  test('an apply rejected after the app phase rolled out: what earlier phases changed is rolled back', async () => {
    const { kube, run } = setup({
      onApply: (kinds) => {
        if (kinds.includes('Deployment')) serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3'));
        return kinds.includes('Ingress') ? fails('Error from server (Forbidden): admission webhook "policy.example.com" denied the request') : undefined;
      },
    });
    undoRestores(kube);
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(result.failureReason).toBe('apply edge failed: Error from server (Forbidden): admission webhook "policy.example.com" denied the request');
    expect(kube.called(/^rollout undo/)).toEqual([`rollout undo deployment/backend -n ${NS} --to-revision=2`]);
  });

  test('an apply rejected before any workload moved: nothing to undo, the release is failed, not rolled back', async () => {
    const { kube, run } = setup({ onApply: (kinds) => (kinds.includes('Deployment') ? fails('error: quota exceeded') : undefined) });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', rolledBack: false, failureReason: 'apply app failed: error: quota exceeded' });
    expect(result.rollback).toEqual([expect.objectContaining({ action: 'keep', kind: 'Deployment', name: 'backend' })]);
    expect(kube.called(/^rollout undo/)).toEqual([]);
  });

  test('a rollback step that fails is reported, and the other workloads are still restored', async () => {
    const { kube, lines, run } = setup({
      worker: true,
      inputs: { 'health-check-url': '' },
      onApply: (kinds) => {
        if (kinds.includes('Ingress')) return fails('error: the server is currently unable to handle the request');
        if (!kinds.includes('Deployment')) return undefined;
        serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3'));
        serveDeployment(kube, atRevision(renamed(deploymentFixture('healthy-complete'), 'worker'), 3, 'next3'));
        return undefined;
      },
    });
    // The edge phase is rejected; backend's undo fails, worker's undo works.
    kube.on(/^rollout undo deployment\/backend /, fails('error: unable to find specified revision 2 in history'));
    kube.on(/^rollout undo deployment\/worker /, () => {
      serveDeployment(kube, atRevision(renamed(deploymentFixture('healthy-complete'), 'worker'), 4));
      return ok('deployment.apps/worker rolled back\n');
    });
    const result = await run();
    expect(kube.called(/^rollout undo/)).toEqual([
      `rollout undo deployment/backend -n ${NS} --to-revision=2`,
      `rollout undo deployment/worker -n ${NS} --to-revision=2`,
    ]);
    expect(result.status).toBe('failed');
    expect(result.rolledBack).toBe(true);
    expect(result.rollback.find((s) => s.name === 'backend')).toMatchObject({
      action: 'undo',
      error: expect.stringContaining('unable to find specified revision 2'),
    });
    expect(lines.some((l) => l.startsWith('error: rollback: rollback of Deployment/backend failed: '))).toBe(true);
    expect(result.rows.map((r) => [r.workload, r.after])).toEqual([
      ['Deployment/backend', 3],
      ['Deployment/worker', 4],
    ]);
  });

  test('the worker is applied once the migration ran, while the backend still rolls; the release ends when both are Ready', async () => {
    // The backend's new pod is still migrating after its apply; the migration completes 300 ms later.
    const rolling = () => atRevision(deploymentFixture('rolling-in-progress'), 3, 'next3');
    const seenAtWorkerApply: string[] = [];
    let state = 'before';
    const { kube, lines, run } = setup({
      migrates: true,
      worker: true,
      inputs: { 'health-check-url': '' },
      onApply: (kinds) => {
        if (!kinds.includes('Deployment')) return;
        if (state === 'before') {
          serveDeployment(kube, rolling());
          state = 'migrating';
          setTimeout(() => {
            serveDeployment(kube, migrated(rolling()));
            state = 'migrated, backend rolling';
          }, 300);
          return;
        }
        seenAtWorkerApply.push(state);
        serveDeployment(kube, atRevision(renamed(deploymentFixture('healthy-complete'), 'worker'), 3, 'next3'));
        setTimeout(() => serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3')), 300);
      },
    });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(appliedNames(kube)).toEqual([NS, 'config', 'backend', 'worker', 'web']);
    expect(seenAtWorkerApply).toEqual(['migrated, backend rolling']);
    expect(lines.some((l) => /^migrate: migration completed \(or unchanged\) after \d/.test(l))).toBe(true);
    expect(result.rows.map((r) => [r.workload, r.verdict, r.after])).toEqual([
      ['Deployment/backend', 'ready', 3],
      ['Deployment/worker', 'ready', 3],
    ]);
  });

  test('a failed migration: the worker is never applied, the backend is rolled back, the worker left alone', async () => {
    const { kube, run } = setup({
      migrates: true,
      worker: true,
      onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, deploymentFixture('migration-failed'))),
    });
    undoRestores(kube);
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(result.failureReason).toMatch(/^Deployment\/backend: InitContainerFailed: /);
    expect(appliedNames(kube)).toEqual([NS, 'config', 'backend']);
    expect(kube.called(/^rollout undo/)).toEqual([`rollout undo deployment/backend -n ${NS} --to-revision=2`]);
    expect(result.rollback.find((s) => s.name === 'worker')).toMatchObject({ action: 'keep' });
  });

  test('a backend the apply did not change: the gate holds at once and the worker follows', async () => {
    let applies = 0;
    const { kube, run } = setup({
      migrates: true,
      worker: true,
      // The backend stays as it was (same generation); only the worker moves.
      onApply: (kinds) =>
        void (
          kinds.includes('Deployment') &&
          ++applies === 2 &&
          serveDeployment(kube, atRevision(renamed(deploymentFixture('healthy-complete'), 'worker'), 3, 'next3'))
        ),
    });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(appliedNames(kube)).toEqual([NS, 'config', 'backend', 'worker', 'web']);
    expect(result.rows.map((r) => [r.workload, r.before, r.after])).toEqual([
      ['Deployment/backend', 2, 2],
      ['Deployment/worker', 2, 3],
    ]);
  });

  test('a list that fails for a moment during the watch does not fail the release', async () => {
    const { kube, lines, run } = setup({
      onApply: (kinds) => {
        if (!kinds.includes('Deployment')) return;
        kube.failLists('Pod', 1);
        serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3'));
      },
    });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(lines.some((l) => /^\[app\] listing Pods failed: .*Unable to connect to the server/.test(l))).toBe(true);
  });

  test('a rollout not Ready by the deadline is rolled back, and the budget counts from the first apply', async () => {
    const { kube, run } = setup({
      inputs: { timeout: '1s' },
      onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, atRevision(deploymentFixture('rolling-in-progress'), 3, 'next3'))),
    });
    undoRestores(kube);
    const started = Date.now();
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(result.failureReason).toMatch(/^not Ready within 1s: /);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  test('a failing health check rolls back a release whose pods are Ready', async () => {
    healthStatus = 503;
    try {
      const { kube, run } = setup({
        inputs: { 'health-check-url': healthUrl, 'health-check-retries': '1' },
        onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3'))),
      });
      undoRestores(kube);
      const result = await run();
      expect(result.status).toBe('rolled-back');
      expect(result.failureReason).toBe(`health check ${healthUrl} failed after 1 attempts: status 503, want 200`);
      expect(result.url).toBe(healthUrl);
    } finally {
      healthStatus = 200;
    }
  });

  test('a restart during the soak window rolls back', async () => {
    const { kube, run } = setup({
      inputs: { soak: '3s' },
      onApply: (kinds) => {
        if (!kinds.includes('Deployment')) return;
        serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3'));
        setTimeout(() => serveDeployment(kube, restarted(atRevision(deploymentFixture('healthy-complete'), 3, 'next3'))), 800);
      },
    });
    undoRestores(kube);
    const result = await run();
    expect(result.status).toBe('rolled-back');
    expect(result.failureReason).toMatch(/^while soaking: Deployment\/backend: RestartedWhileSoaking: restarted 1 time\(s\) after it was Ready$/);
  });

  test('rollback: false leaves the failed release in place', async () => {
    const { kube, lines, run } = setup({
      inputs: { rollback: 'false' },
      onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, deploymentFixture('crashloop'))),
    });
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', rolledBack: false, rollback: [] });
    expect(kube.called(/^rollout undo/)).toEqual([]);
    expect(lines).toContain('warning: rollback is off: the failed release stays in place');
  });

  test('a failed first install has nothing to return to: resources stay, status failed', async () => {
    const kube0 = { value: undefined as ScriptedKube | undefined };
    const { kube, lines, run } = setup({
      namespaceExists: false,
      onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube0.value!, deploymentFixture('crashloop'))),
    });
    kube0.value = kube;
    kube.remove('Deployment', 'backend');
    const result = await run();
    expect(result).toMatchObject({ status: 'failed', rolledBack: false });
    expect(result.rollback).toEqual([expect.objectContaining({ action: 'leave' })]);
    expect(lines).toContain('warning: first install: nothing ran before, so the resources stay for debugging (delete-failed-install: true deletes them)');
    // A namespace that does not exist yet still gets a dry run: kinds and schema are checked.
    expect(kube.called(/--dry-run=server/)).toHaveLength(1);
  });

  test('dry-run: a server-side dry run and a diff, nothing applied', async () => {
    const { kube, run } = setup({ inputs: { 'dry-run': 'true' } });
    kube.on(/^diff --server-side /, { code: 1, stdout: '-  replicas: 1\n+  replicas: 2\n', stderr: '' });
    const result = await run();
    expect(result.status).toBe('dry-run');
    expect(appliedKinds(kube)).toEqual([]);
    expect(kube.called(/^diff --server-side/)).toHaveLength(1);
  });

  test('dry-run of a first install: checked on the server, every object shown as created, nothing applied', async () => {
    const { kube, lines, run } = setup({ inputs: { 'dry-run': 'true' }, namespaceExists: false, secret: true });
    const result = await run();
    expect(result.status).toBe('dry-run');
    expect(appliedKinds(kube)).toEqual([]);
    expect(kube.called(/^diff /)).toEqual([]);
    expect(lines).toContain(`namespace ${NS} does not exist yet: every object would be created`);
    // A Secret is shown with its keys, never its values.
    expect(lines.join('\n')).not.toContain('hunter2-in-the-manifest');
    expect(lines.map((l) => l.replace(/ +/g, ' '))).toContain('+ "SECRET_KEY": "***"');
    for (const id of [`Namespace/${NS}`, `ConfigMap/${NS}/config`, `Deployment/${NS}/backend`, `Ingress/${NS}/web`]) expect(lines).toContain(`created ${id}`);
    expect(lines.filter((l) => /^\+ +"image": "/.test(l)).map((l) => l.replace(/ +/, ' '))).toEqual([`+ "image": "${image}@${DIGEST}",`]);
  });

  test('a namespace that does not exist and that the manifests do not create is refused before anything is applied', async () => {
    const { kube, run } = setup({ namespaceExists: false, noNamespace: true });
    await expect(run()).rejects.toThrow(`input 'namespace': namespace '${NS}' does not exist and the manifests do not create it`);
    expect(kube.called(/^apply /)).toEqual([]);
  });

  test('the cluster checks run together, and their errors still come in order: permissions, then the objects', async () => {
    const { kube, run } = setup();
    // An identity that may only read, and a server that refuses an object: the permission is said.
    kube.on(/^create --validate=false -f - -o json$/, (_args, input) =>
      Promise.resolve({
        code: 0,
        stderr: '',
        stdout: JSON.stringify({ ...JSON.parse(input!), status: { resourceRules: [{ verbs: ['get', 'list', 'watch'], apiGroups: ['*'], resources: ['*'] }] } }),
      }),
    );
    kube.on(/--dry-run=server$/, () => Promise.resolve({ code: 1, stdout: '', stderr: 'Error from server (Invalid): Deployment.apps "backend" is invalid\n' }));
    await expect(run()).rejects.toThrow(/^input 'kubeconfig': this identity may not do what deploy and rollback need: /);
    // With the permissions granted, the refusal is what is said.
    const second = setup();
    second.kube.on(/--dry-run=server$/, () =>
      Promise.resolve({ code: 1, stdout: '', stderr: 'Error from server (Invalid): Deployment.apps "backend" is invalid\n' }),
    );
    await expect(second.run()).rejects.toThrow(/the API server rejects them: .*Deployment\.apps "backend" is invalid/);
    expect(second.kube.called(/^apply (?!.*--dry-run=server)/)).toEqual([]);
  });

  test('the deploy lock is held while the release runs, and freed after; the record says deployed', async () => {
    const held: string[] = [];
    const { kube, run } = setup({
      onApply: (kinds) => {
        held.push(kube.get('Lease', 'medaudit-deploy-lock')?.spec.holderIdentity);
        if (kinds.includes('Deployment')) serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 3, 'next3'));
      },
    });
    const result = await run();
    expect(result.status).toBe('deployed');
    expect(new Set(held)).toEqual(new Set([HOLDER.id]));
    expect(kube.get('Lease', 'medaudit-deploy-lock')?.spec.holderIdentity).toBe('');
    const record = JSON.parse((kube.get('ConfigMap', 'medaudit-deploy-release') as any).data.record);
    expect(record).toMatchObject({ state: 'deployed', run: HOLDER.id, runUrl: HOLDER.url, before: [expect.objectContaining({ revision: 2 })] });
    expect(record.lastGood).toEqual([expect.objectContaining({ kind: 'Deployment', name: 'backend', revision: 3 })]);
  });

  test('another run holding the lock: refused after lock-timeout, naming it, with nothing applied', async () => {
    const { kube, run } = setup({ inputs: { 'lock-timeout': '1s' } });
    kube.put('Lease', heldBy(NS, { id: 'acme/app run 41 attempt 1 job deploy', url: 'https://ci.example/41' }, Date.now()));
    await expect(run()).rejects.toThrow(/is being deployed by acme\/app run 41 attempt 1 job deploy \(https:\/\/ci\.example\/41\): .*nothing was changed$/);
    expect(appliedKinds(kube)).toEqual([]);
  });

  test('after a run that died mid-release, "before" is the release it found, not the broken one it left', async () => {
    const { kube, lines, run } = setup({ onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, deploymentFixture('crashloop'))) });
    // The dead run found revision 2, left revision 3 (crashing) live, and never finished.
    serveDeployment(kube, deploymentFixture('crashloop'));
    const dead = {
      state: 'in-progress',
      run: 'acme/app run 40 attempt 1 job deploy',
      runUrl: 'https://ci.example/40',
      startedAt: '2026-11-30T05:00:00Z',
      before: [{ kind: 'Deployment', name: 'backend', existed: true, revision: 2, generation: 2 }],
    };
    kube.put('ConfigMap', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'medaudit-deploy-release', namespace: NS },
      data: { record: JSON.stringify(dead) },
    } as never);
    undoRestores(kube);
    const result = await run();
    expect(lines).toContainEqual(expect.stringMatching(/^warning: the release by acme\/app run 40 .*never finished/));
    expect(kube.called(/^rollout undo/)).toEqual([`rollout undo deployment/backend -n ${NS} --to-revision=2`]);
    expect(result.status).toBe('rolled-back');
    const record = JSON.parse((kube.get('ConfigMap', 'medaudit-deploy-release') as any).data.record);
    expect(record).toMatchObject({ state: 'rolled-back', run: HOLDER.id, lastGood: [expect.objectContaining({ revision: 2 })] });
  });

  test('cancelled mid-watch: the watch stops, the undo starts at once without waiting, status cancelled, lock freed', async () => {
    const { kube, run, cancel } = setup({
      onApply: (kinds) => {
        if (!kinds.includes('Deployment')) return;
        serveDeployment(kube, atRevision(deploymentFixture('rolling-in-progress'), 3, 'next3'));
        setTimeout(() => cancel.abort(), 300);
      },
    });
    undoRestores(kube);
    const started = Date.now();
    const result = await run();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toMatchObject({ status: 'cancelled', rolledBack: true, failureReason: 'the run was cancelled' });
    expect(kube.called(/^rollout undo/)).toEqual([`rollout undo deployment/backend -n ${NS} --to-revision=2`]);
    expect(appliedKinds(kube)).toEqual(['Namespace', 'ConfigMap', 'Deployment']);
    expect(kube.get('Lease', 'medaudit-deploy-lock')?.spec.holderIdentity).toBe('');
    expect(JSON.parse((kube.get('ConfigMap', 'medaudit-deploy-release') as any).data.record).state).toBe('cancelled');
  });

  test('the API failing as the rollback starts: every workload is still undone to its recorded revision', async () => {
    const { kube, lines, run } = setup({
      onApply: (kinds) => {
        if (!kinds.includes('Deployment')) return;
        serveDeployment(kube, deploymentFixture('crashloop'));
      },
    });
    let failing = false;
    kube.on(/^logs /, () => {
      // The failure is being explained: from now on the API does not answer lists.
      if (!failing) kube.failLists('Deployment', 1);
      failing = true;
      return ok('');
    });
    undoRestores(kube);
    const result = await run();
    expect(lines).toContainEqual(expect.stringMatching(/^warning: cannot read the live revisions .*undoing every workload to its recorded revision$/));
    expect(kube.called(/^rollout undo/)).toEqual([`rollout undo deployment/backend -n ${NS} --to-revision=2`]);
    expect(result.status).toBe('rolled-back');
  });

  test('an undo whose answer was lost is not repeated: the recorded template, found live, counts as restored', async () => {
    const { kube, lines, run } = setup({ onApply: (kinds) => void (kinds.includes('Deployment') && serveDeployment(kube, deploymentFixture('crashloop'))) });
    kube.on(/^rollout undo deployment\/backend /, () => {
      serveDeployment(kube, atRevision(deploymentFixture('healthy-complete'), 4));
      return fails('error: unexpected EOF');
    });
    const result = await run();
    expect(kube.called(/^rollout undo/)).toEqual([`rollout undo deployment/backend -n ${NS} --to-revision=2`]);
    expect(lines).toContain('Deployment/backend already runs the recorded template');
    expect(result.status).toBe('rolled-back');
  });
});
