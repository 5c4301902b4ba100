// A migration Job (annotated medaudit.io/migration: "true") gates the app as the backend's migrate
// init container does: against the local cluster, the worker is applied only once the Job
// completed; a changed Job, or one that did not succeed, is replaced (its template cannot change)
// and runs again; an unchanged completed one stays as it ran; a failing one stops the release
// before the app phase, leaving the running worker untouched; one its TTL deletes once complete
// still completed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAppNamespace, kubectl, kubectlJson, REGISTRY, tryKubectl, uniqueNamespace } from '../support/cluster.js';
import { runAction, sampleWorkspace } from '../support/action.js';
import { behaviourImage } from '../support/sim.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const ns = uniqueNamespace('e2e-job');
let ws: string;
let manifests: string;

const MANIFESTS = `
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: { medaudit.io/migration: "true" }
spec:
  backoffLimit: 1
  template:
    metadata:
      labels: { app: migrate }
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 5
      containers:
        - name: migrate
          image: medaudit-backend:latest
          command: ["alembic", "upgrade", "head"]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: 1
  selector:
    matchLabels: { app: worker }
  template:
    metadata:
      labels: { app: worker }
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: worker
          image: medaudit-backend:latest
`;

const deploy = (inputs: Record<string, string>) => runAction({ image: IMAGE, namespace: ns, manifests, timeout: '3m', soak: '0', ...inputs }, { cwd: ws });

const job = () => kubectlJson(['get', 'job', 'migrate', '-n', ns]);
const worker = () => kubectlJson(['get', 'deployment', 'worker', '-n', ns]);
const lineOf = (log: string, pattern: RegExp) => log.split('\n').findIndex((l) => pattern.test(l));

beforeAll(() => {
  ws = sampleWorkspace();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-job-'));
  manifests = path.join(dir, 'release.yaml');
  writeFileSync(manifests, MANIFESTS);
  createAppNamespace(ns);
});

afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('a migration Job gates the app phase', () => {
  let first: { uid: string; image: string };

  test('a first release: the worker is applied, and its pod created, only after the Job completed', async () => {
    const run = await deploy({ tag: 'e2e-job-v1', 'build-args': 'SIM_MESSAGE=job v1' });
    expect([run.code, run.outputs.status, run.outputs['failure-reason']]).toEqual([0, 'deployed', '']);
    const completed = lineOf(run.log, /^migrate: migration completed \(or unchanged\) after [\d.]+ s/);
    expect(lineOf(run.log, /apply migrate: Job\/[^/]+\/migrate$/)).toBeGreaterThanOrEqual(0);
    expect(completed).toBeGreaterThan(0);
    expect(lineOf(run.log, /apply app: Deployment\/[^/]+\/worker/)).toBeGreaterThan(completed);
    const j = job();
    expect(j.status.conditions.some((c: any) => c.type === 'Complete' && c.status === 'True')).toBe(true);
    expect(j.spec.template.spec.containers[0].image).toBe(run.outputs.image);
    const pods = kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=worker']).items as any[];
    expect(pods.length).toBe(1);
    // Whole seconds: created no earlier than the second the Job completed in.
    expect(Date.parse(pods[0].metadata.creationTimestamp)).toBeGreaterThanOrEqual(Math.floor(Date.parse(j.status.completionTime) / 1000) * 1000);
    first = { uid: j.metadata.uid, image: run.outputs.image };
  }, 240_000);

  test('the same release again: the completed Job did not change, so it stays as it ran', async () => {
    const run = await deploy({ tag: 'e2e-job-v1', build: 'false' });
    expect([run.code, run.outputs.status]).toEqual([0, 'deployed']);
    expect(run.outputs.image).toBe(first.image);
    expect(run.log).not.toMatch(/Job\/migrate deleted/);
    expect(run.log).toMatch(/Job\/migrate unchanged: its spec did not move/);
    expect(job().metadata.uid).toBe(first.uid);
  }, 240_000);

  test('a new image: the Job cannot change, so it is replaced and runs again before the worker rolls', async () => {
    const run = await deploy({ tag: 'e2e-job-v2', 'build-args': 'SIM_MESSAGE=job v2' });
    expect([run.code, run.outputs.status, run.outputs['failure-reason']]).toEqual([0, 'deployed', '']);
    expect(run.log).toMatch(/Job\/migrate deleted, to run anew/);
    const j = job();
    expect(j.metadata.uid).not.toBe(first.uid);
    expect(j.spec.template.spec.containers[0].image).toBe(run.outputs.image);
    expect(j.status.succeeded).toBe(1);
    expect(worker().spec.template.spec.containers[0].image).toBe(run.outputs.image);
  }, 240_000);

  let failedImage: string;

  test('a failing migration: the release fails on the Job, and the worker is never touched', async () => {
    const before = worker();
    const run = await deploy({ tag: 'e2e-job-crash', 'build-args': 'SIM_BEHAVIOUR=crash' });
    expect(run.code).toBe(1);
    expect(run.outputs['failure-reason']).toMatch(/^Job\/migrate: Error: exited with exit code 1/);
    expect(run.log).not.toMatch(/apply app: /);
    // Nothing of the app moved: the worker keeps its template and generation.
    expect([worker().metadata.generation, worker().spec.template]).toEqual([before.metadata.generation, before.spec.template]);
    // The Job stays as it failed, for its log; the schema is never rolled back.
    expect(run.log).toMatch(/rollback Job\/migrate: left in place \(a Job runs once/);
    expect(job().spec.template.spec.containers[0].image).toBe(run.outputs.image);
    failedImage = run.outputs.image;
  }, 240_000);

  test('the good release again after it: the failed Job is replaced and the migration runs', async () => {
    const run = await deploy({ tag: 'e2e-job-v2', build: 'false' });
    expect([run.code, run.outputs.status, run.outputs['failure-reason']]).toEqual([0, 'deployed', '']);
    expect(run.log).toMatch(/Job\/migrate deleted, to run anew/);
    const j = job();
    expect(j.spec.template.spec.containers[0].image).toBe(run.outputs.image);
    expect(j.spec.template.spec.containers[0].image).not.toBe(failedImage);
    expect(j.status.succeeded).toBe(1);
  }, 240_000);

  test('a dry run of a new image: the Job to be replaced is shown as created anew, nothing is changed', async () => {
    const uid = job().metadata.uid;
    const run = await deploy({ tag: 'e2e-job-never-built', 'dry-run': 'true' });
    expect([run.code, run.outputs.status]).toEqual([0, 'dry-run']);
    expect(run.log).toMatch(/Job\/migrate would be deleted and created anew/);
    expect(run.log).toMatch(/^created Job\/[^/]+\/migrate$/m);
    expect(job().metadata.uid).toBe(uid);
  }, 120_000);

  test('a migration Job still running from before: refused before anything is applied, naming it', async () => {
    // The Job as an earlier run left it, its migration still going: it runs for a minute.
    const slow = behaviourImage('medaudit-backend', 'e2e-job-slow', { SIM_CRASH_AFTER: '60' });
    kubectl(['delete', 'job', 'migrate', '-n', ns, '--cascade=foreground', '--wait=true']);
    kubectl(['apply', '-n', ns, '-f', '-'], { input: MANIFESTS.split('---')[0].replace('medaudit-backend:latest', slow) });
    kubectl(['wait', 'job/migrate', '-n', ns, '--for=jsonpath={.status.active}=1', '--timeout=60s']);
    const before = { job: job().metadata.uid, worker: worker().metadata.generation };
    const run = await deploy({ tag: 'e2e-job-v2', build: 'false' });
    expect(run.code).toBe(1);
    expect(run.outputs['failure-reason']).toMatch(
      /Job\/migrate is still running \(1 active pod\), started before this release: .*wait for it to finish, or delete it/,
    );
    expect(run.log).not.toMatch(/::group::apply /);
    expect({ job: job().metadata.uid, worker: worker().metadata.generation }).toEqual(before);
    kubectl(['delete', 'job', 'migrate', '-n', ns, '--wait=false']);
  }, 180_000);
});

describe('a migration Job deleted by its TTL the moment it completes', () => {
  const ttlNs = uniqueNamespace('e2e-job-ttl');
  beforeAll(() => createAppNamespace(ttlNs));
  afterAll(() => {
    kubectl(['delete', 'namespace', ttlNs, '--wait=false']);
  });

  test('ttlSecondsAfterFinished: 0: the Job is gone while the rest of its phase still rolls, and the release ends deployed', async () => {
    const file = path.join(path.dirname(manifests), 'release-ttl.yaml');
    // api migrates too (an init container), so it is watched with the Job, and is Ready only
    // seconds after the Job completed: the TTL controller deletes the Job while that watch goes on.
    const api = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector:
    matchLabels: { app: api }
  template:
    metadata:
      labels: { app: api }
    spec:
      terminationGracePeriodSeconds: 5
      initContainers:
        - name: migrate
          image: medaudit-backend:latest
          command: ["alembic", "upgrade", "head"]
      containers:
        - name: api
          image: medaudit-backend:latest
          readinessProbe: { httpGet: { path: /health, port: 8000 }, initialDelaySeconds: 8, periodSeconds: 2 }
`;
    writeFileSync(file, MANIFESTS.replace('  backoffLimit: 1\n', '  backoffLimit: 1\n  ttlSecondsAfterFinished: 0\n') + '---' + api);
    // A short deadline: a Job taken for missing once gone would wait it out and fail the release.
    const run = await runAction({ image: IMAGE, namespace: ttlNs, manifests: file, tag: 'e2e-job-ttl', timeout: '90s', soak: '0' }, { cwd: ws });
    expect([run.code, run.outputs.status, run.outputs['failure-reason']]).toEqual([0, 'deployed', '']);
    expect(run.log).toMatch(/watching migrate: (Job\/migrate, Deployment\/api|Deployment\/api, Job\/migrate)$/m);
    expect(run.log).toMatch(/Job\/migrate ready: completed: 1 succeeded/);
    expect(lineOf(run.log, /apply app: Deployment\/[^/]+\/worker/)).toBeGreaterThan(lineOf(run.log, /^migrate: migration completed/));
    expect(tryKubectl(['get', 'job', 'migrate', '-n', ttlNs]).code).not.toBe(0);
    expect(kubectlJson(['get', 'deployment', 'worker', '-n', ttlNs]).spec.template.spec.containers[0].image).toBe(run.outputs.image);
  }, 180_000);
});
