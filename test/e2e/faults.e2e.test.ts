// The faults real pipelines meet, injected for real against the local cluster: a run cancelled as
// the runner cancels (SIGINT, SIGTERM, SIGKILL), a run killed outright with or without its post
// step, two runs into one namespace, a stale lock, fix-forwards after a rollback, a job summary
// that cannot be written, an eviction during the soak. Each test deploys a small app of its own.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cancelLikeRunner, runAction, runPost, sampleWorkspace, startAction, type ActionRun, type StartedAction } from '../support/action.js';
import { execFileSync } from 'node:child_process';
import { CLUSTER_DIR, clusterEnv, docker, kubectl, kubectlJson, REGISTRY, REPO, tryKubectl, uniqueNamespace, readyImages } from '../support/cluster.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const namespaces: string[] = [];
let ws: string;
let kubeconfig: string;
const digests: Record<string, string> = {};

/** Builds and pushes one tag of the sample image with a simulator behaviour; remembers its digest. */
function image(tag: string, behaviour: string): void {
  // The message makes each tag's digest its own: two healthy builds would otherwise be one image.
  const args = ['--build-arg', `SIM_BEHAVIOUR=${behaviour}`, '--build-arg', `SIM_MESSAGE=${tag}`];
  docker(['build', '-q', '-f', path.join(ws, 'Dockerfile.prod'), ...args, '-t', `${IMAGE}:${tag}`, ws]);
  const pushed = docker(['push', `${IMAGE}:${tag}`]);
  digests[tag] = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)![1];
}

type App = { env?: string[]; container?: string; readyAfter?: number };

/** A small release of its own: the namespace and one Deployment of two replicas. */
function manifests(ns: string, app: App = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-faults-'));
  const env = (app.env ?? ['A']).map((n) => `{name: ${n}, value: "${n.toLowerCase()}"}`).join(', ');
  writeFileSync(
    path.join(dir, 'app.yaml'),
    [
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}`,
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        `metadata: {name: web, namespace: ${ns}}`,
        'spec:',
        '  replicas: 2',
        '  selector: {matchLabels: {app: web}}',
        '  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}',
        '  template:',
        '    metadata: {labels: {app: web}}',
        '    spec:',
        '      terminationGracePeriodSeconds: 2',
        '      containers:',
        `      - name: ${app.container ?? 'web'}`,
        '        image: medaudit-backend:dev',
        `        env: [${env}]`,
        `        readinessProbe: {httpGet: {path: /health, port: 8000}, initialDelaySeconds: ${app.readyAfter ?? 1}, periodSeconds: 2}`,
      ].join('\n'),
    ].join('\n---\n') + '\n',
  );
  return dir;
}

const inputsFor = (ns: string, tag: string, app: App = {}, more: Record<string, string> = {}) => ({
  image: IMAGE,
  tag,
  build: 'false',
  namespace: ns,
  manifests: manifests(ns, app),
  timeout: '3m',
  ...more,
});

function freshNamespace(prefix: string): string {
  const ns = uniqueNamespace(prefix);
  namespaces.push(ns);
  return ns;
}

const web = (ns: string) => kubectlJson(['get', 'deployment', 'web', '-n', ns]);
const lockHolder = (ns: string) => kubectlJson(['get', 'lease', 'medaudit-deploy-lock', '-n', ns]).spec.holderIdentity ?? '';
const record = (ns: string) => JSON.parse(kubectlJson(['get', 'configmap', 'medaudit-deploy-release', '-n', ns]).data.record);

/** Polls until `check` holds or `ms` pass; returns how long it took. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Resolves once the step's log shows `text` (a group it entered). */
function reaching(started: StartedAction, text: string, ms = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const t = setTimeout(() => reject(new Error(`never reached "${text}"; log:\n${log}`)), ms);
    const look = (c: Buffer) => {
      log += c;
      if (log.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    };
    started.child.stdout!.on('data', look);
  });
}

/** kubectl processes started with the run's kubeconfig (under its RUNNER_TEMP) that still run. */
function kubectlsOf(runnerTemp: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('kubectl')) continue;
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').includes(runnerTemp)) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const kubeconfigDirs = (runnerTemp: string) => readdirSync(runnerTemp).filter((f) => f.startsWith('medaudit-kube-'));

async function deployed(inputs: Record<string, string>): Promise<ActionRun> {
  const run = await runAction(inputs, { cwd: ws });
  if (run.outputs.status !== 'deployed') throw new Error(`expected deployed, got ${run.outputs.status}: ${run.outputs['failure-reason']}\n${run.log}`);
  return run;
}

beforeAll(() => {
  ws = sampleWorkspace();
  kubeconfig = readFileSync(clusterEnv().KUBECONFIG, 'utf8');
  image('fault-good1', 'healthy');
  image('fault-good2', 'healthy');
  image('fault-crash', 'crash');
  image('fault-slow', 'never-ready');
}, 300_000);

afterAll(() => {
  for (const ns of namespaces) tryKubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('cancellation', () => {
  test('cancelled mid-watch as the runner cancels: the previous release restored within 60 s, lock free, nothing left behind', async () => {
    const ns = freshNamespace('medaudit-cancel');
    await deployed(inputsFor(ns, 'fault-good1'));
    const inputs = inputsFor(ns, 'fault-slow', {}, { kubeconfig });
    const started = startAction(inputs, { cwd: ws });
    await reaching(started, 'watching app: ');
    const cancelledAt = Date.now();
    const { killed } = await cancelLikeRunner(started.child);
    const run = await started.done;
    // The main step itself started the rollback and ended within the runner's grace window.
    expect(killed).toBe(false);
    expect(run.outputs.status).toBe('cancelled');
    expect(run.log).toMatch(/SIGINT: the run is being cancelled/);
    expect(run.log).toContain('rollback Deployment/web: revision 2 → 1');
    // GitHub then runs the post step: the main step only started the undo, so the post step finds
    // the recorded template live again and waits for it to be healthy.
    const post = await runPost(inputs, started, { cwd: ws });
    expect(post.code).toBe(0);
    expect(post.log).toContain('Deployment/web already runs the recorded template');
    expect(post.log).toMatch(/Deployment\/web ready: 2 of 2 replicas available/);
    const restoreMs = await within(
      60_000,
      () =>
        web(ns).spec.template.spec.containers[0].image === `${IMAGE}@${digests['fault-good1']}` &&
        readyImages(ns).size === 1 &&
        readyImages(ns).has(`${IMAGE}@${digests['fault-good1']}`),
    );
    console.log(`cancel → previous release Ready again: ${((Date.now() - cancelledAt) / 1000).toFixed(1)} s (polled ${restoreMs} ms after the step ended)`);
    expect(Date.now() - cancelledAt).toBeLessThan(60_000);
    expect(lockHolder(ns)).toBe('');
    expect(record(ns).state).toBe('cancelled');
    expect(kubeconfigDirs(started.runnerTemp)).toEqual([]);
    expect(kubectlsOf(started.runnerTemp)).toEqual([]);
  });

  test('killed outright mid-rollout: the post step restores the previous release, frees the lock and cleans up', async () => {
    const ns = freshNamespace('medaudit-killed');
    await deployed(inputsFor(ns, 'fault-good1'));
    const inputs = inputsFor(ns, 'fault-slow', {}, { kubeconfig });
    const started = startAction(inputs, { cwd: ws });
    await reaching(started, 'watching app: ');
    started.child.kill('SIGKILL');
    await started.done;
    // Killed: its kubeconfig is still on the runner, its lock still held.
    expect(kubeconfigDirs(started.runnerTemp)).toHaveLength(1);
    expect(lockHolder(ns)).not.toBe('');
    const killedAt = Date.now();
    const post = await runPost(inputs, started, { cwd: ws });
    expect(post.code).toBe(0);
    expect(post.log).toMatch(/the deploy step did not finish \(cancelled or killed\)/);
    expect(post.summary).toContain('Cancelled');
    expect(web(ns).spec.template.spec.containers[0].image).toBe(`${IMAGE}@${digests['fault-good1']}`);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['fault-good1']}`]));
    console.log(`kill → post step restored the previous release: ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
    expect(lockHolder(ns)).toBe('');
    expect(record(ns).state).toBe('cancelled');
    expect(kubeconfigDirs(started.runnerTemp)).toEqual([]);
    expect(kubectlsOf(started.runnerTemp)).toEqual([]);
  });

  test('killed with no post step (runner lost): the next run takes the lock over, reports the unfinished release and returns to the last good one', async () => {
    const ns = freshNamespace('medaudit-lost');
    await deployed(inputsFor(ns, 'fault-good1'));
    const started = startAction(inputsFor(ns, 'fault-slow'), { cwd: ws });
    await reaching(started, 'watching app: ');
    started.child.kill('SIGKILL');
    await started.done;
    const brokenRevision = Number(web(ns).metadata.annotations['deployment.kubernetes.io/revision']);
    const next = await runAction(inputsFor(ns, 'fault-crash'), { cwd: ws, env: { GITHUB_RUN_ID: '4343' } });
    expect(next.log).toMatch(/waiting for the deploy lock of .*, held by acme\/medaudit-backend run 4242/);
    expect(next.log).toMatch(/took over the deploy lock of .* which stopped renewing it/);
    expect(next.log).toMatch(/the release by acme\/medaudit-backend run 4242 .* never finished/);
    expect(next.outputs.status).toBe('rolled-back');
    // Back to the last good release, not to the half-applied one the killed run left live.
    expect(JSON.parse(next.outputs.revisions)['Deployment/web'].before).toBe(1);
    expect(brokenRevision).toBe(2);
    expect(web(ns).spec.template.spec.containers[0].image).toBe(`${IMAGE}@${digests['fault-good1']}`);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['fault-good1']}`]));
  });
});

describe('the deploy lock', () => {
  test('two runs at once into one namespace (one broken, one good) take turns; the good release ends live', async () => {
    const ns = freshNamespace('medaudit-two');
    await deployed(inputsFor(ns, 'fault-good1'));
    const broken = runAction(inputsFor(ns, 'fault-crash'), { cwd: ws, env: { GITHUB_RUN_ID: '5001' } });
    await new Promise((r) => setTimeout(r, 300));
    const good = runAction(inputsFor(ns, 'fault-good2'), { cwd: ws, env: { GITHUB_RUN_ID: '5002' } });
    const [b, g] = await Promise.all([broken, good]);
    expect(b.outputs.status).toBe('rolled-back');
    expect(g.outputs.status).toBe('deployed');
    expect([b.log, g.log].some((l) => /waiting for the deploy lock of .*, held by acme\/medaudit-backend run 500[12]/.test(l))).toBe(true);
    const live = web(ns).spec.template.spec.containers[0].image;
    expect(live).toBe(`${IMAGE}@${digests['fault-good2']}`);
    expect(g.outputs.image).toBe(live);
    expect(readyImages(ns)).toEqual(new Set([live]));
  });

  test('a Lease whose holder stopped renewing long ago is taken over at once, and the takeover reported', async () => {
    const ns = freshNamespace('medaudit-stale');
    await deployed(inputsFor(ns, 'fault-good1'));
    const long = new Date(Date.now() - 10 * 60_000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    kubectl(['replace', '-f', '-'], {
      input: JSON.stringify({
        ...kubectlJson(['get', 'lease', 'medaudit-deploy-lock', '-n', ns]),
        spec: { holderIdentity: 'ghost run 1', leaseDurationSeconds: 30, acquireTime: long, renewTime: long },
      }),
    });
    const run = await deployed(inputsFor(ns, 'fault-good2'));
    expect(run.log).toMatch(/took over the deploy lock of .* from ghost run 1( \(.*\))?, which stopped renewing it \d+s ago/);
    expect(lockHolder(ns)).toBe('');
  });

  test('an uncontended run takes the lock at once, holds it through the release and frees it after', async () => {
    const ns = freshNamespace('medaudit-lockfast');
    const run = await deployed(inputsFor(ns, 'fault-good1'));
    const ms = Number(/deploy lock of \S+ acquired in (\d+) ms/.exec(run.log)![1]);
    console.log(`uncontended deploy lock: ${ms} ms`);
    expect(run.log).not.toMatch(/waiting for the deploy lock/);
    expect(lockHolder(ns)).toBe('');
    expect(record(ns)).toMatchObject({ state: 'deployed', run: expect.stringContaining('acme/medaudit-backend run 4242') });
  });
});

describe('fix-forward after a rollback', () => {
  const envOf = (ns: string) => (web(ns).spec.template.spec.containers[0].env ?? []).map((e: any) => e.name);

  test('release 2 drops env B and crashes; release 3 (also without B) ends with exactly its own env', async () => {
    const ns = freshNamespace('medaudit-envdrop');
    await deployed(inputsFor(ns, 'fault-good1', { env: ['A', 'B'] }));
    const r2 = await runAction(inputsFor(ns, 'fault-crash', { env: ['A'] }), { cwd: ws });
    expect(r2.outputs.status).toBe('rolled-back');
    expect(envOf(ns)).toEqual(['A', 'B']);
    await deployed(inputsFor(ns, 'fault-good2', { env: ['A'] }));
    expect(envOf(ns)).toEqual(['A']);
    const managers = (kubectlJson(['get', 'deployment', 'web', '-n', ns, '--show-managed-fields']).metadata.managedFields as any[]).map((m) => m.manager);
    expect(managers).not.toContain('kubectl');
  });

  test('release 2 renames the container and crashes; release 3 (renamed too) has exactly one container', async () => {
    const ns = freshNamespace('medaudit-rename');
    await deployed(inputsFor(ns, 'fault-good1', { container: 'web' }));
    const r2 = await runAction(inputsFor(ns, 'fault-crash', { container: 'app' }), { cwd: ws });
    expect(r2.outputs.status).toBe('rolled-back');
    expect(web(ns).spec.template.spec.containers.map((c: any) => c.name)).toEqual(['web']);
    await deployed(inputsFor(ns, 'fault-good2', { container: 'app' }));
    expect(web(ns).spec.template.spec.containers.map((c: any) => c.name)).toEqual(['app']);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['fault-good2']}`]));
  });
});

describe('reporting and the soak', () => {
  test('a job summary that cannot be written changes neither the result nor the outputs', async () => {
    const ns = freshNamespace('medaudit-summary');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-summary-'));
    mkdirSync(path.join(dir, 'summary-is-a-directory'));
    const run = await runAction(inputsFor(ns, 'fault-good1'), { cwd: ws, env: { GITHUB_STEP_SUMMARY: path.join(dir, 'summary-is-a-directory') } });
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({ status: 'deployed', image: `${IMAGE}@${digests['fault-good1']}`, digest: digests['fault-good1'] });
    expect(run.log).toMatch(/::warning::writing the job summary failed: .*the release's result is unchanged/);
  });

  test('a pod evicted during the soak does not fail a healthy release', async () => {
    const ns = freshNamespace('medaudit-evict');
    await deployed(inputsFor(ns, 'fault-good1'));
    const started = startAction(inputsFor(ns, 'fault-good2', {}, { soak: '15' }), { cwd: ws });
    await reaching(started, 'soaking for 15s');
    const pod = (kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=web']).items as any[]).find((p) => !p.metadata.deletionTimestamp).metadata.name;
    const eviction = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: ns } };
    kubectl(['create', '--raw', `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, '-f', '-'], { input: JSON.stringify(eviction) });
    const run = await started.done;
    if (run.outputs.status !== 'deployed') writeFileSync('/tmp/evict.log', run.log);
    expect(run.outputs.status).toBe('deployed');
    expect(run.code).toBe(0);
  });
});

describe('the API server going away', () => {
  const cluster = (script: string) =>
    execFileSync('bash', ['-c', script], { cwd: REPO, env: { ...clusterEnv(), MEDAUDIT_CLUSTER_DIR: CLUSTER_DIR }, stdio: ['ignore', 'pipe', 'pipe'] });

  test('restarted mid-watch: the release still ends deployed', async () => {
    const ns = freshNamespace('medaudit-apirestart');
    await deployed(inputsFor(ns, 'fault-good1'));
    const started = startAction(inputsFor(ns, 'fault-good2', { readyAfter: 8 }), { cwd: ws });
    await reaching(started, 'watching app: ');
    const t0 = Date.now();
    // The control plane restarts as on an upgrade: controller-manager and scheduler with it (left
    // alone, client-go's watch back-off after earlier restarts in the suite delays them by minutes).
    cluster('bash test/cluster/up.sh --restart kube-apiserver --restart kube-controller-manager --restart kube-scheduler');
    console.log(`API server restarted mid-watch in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const run = await started.done;
    console.log(`API server restart: the release ended ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart began`);
    expect(run.outputs.status).toBe('deployed');
    expect(run.code).toBe(0);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['fault-good2']}`]));
  });

  test('unreachable for 10 s just as a failure is detected: the rollback still completes', async () => {
    const ns = freshNamespace('medaudit-apidown');
    await deployed(inputsFor(ns, 'fault-good1'));
    const started = startAction(inputsFor(ns, 'fault-crash'), { cwd: ws });
    await reaching(started, 'FAILED: ');
    // Stopped by its pid file, which goes with it: the cluster is down on purpose, not dead.
    cluster('source test/cluster/lib.sh && stop_pid "$CLUSTER_DIR/pids/kube-apiserver"');
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 10_000));
    cluster('bash test/cluster/up.sh --restart kube-controller-manager --restart kube-scheduler');
    const run = await started.done;
    console.log(`API server down for 10 s at the failure: restored ${((Date.now() - downAt) / 1000).toFixed(1)} s after it went down`);
    expect(run.outputs.status).toBe('rolled-back');
    expect(run.log).toMatch(/retrying in/);
    expect(web(ns).spec.template.spec.containers[0].image).toBe(`${IMAGE}@${digests['fault-good1']}`);
    expect(readyImages(ns)).toEqual(new Set([`${IMAGE}@${digests['fault-good1']}`]));
  });
});
