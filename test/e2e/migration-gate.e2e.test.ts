// The migration gates the app, not the whole rollout: against the local cluster, an upgrade of k8s/
// starts no new celery-worker pod before a new backend pod's migrate init container exited 0, while
// the backend goes on rolling; a failing migration leaves celery-worker untouched.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { clusterEnv, createAppNamespace, kubectl, kubectlJson, REGISTRY, uniqueNamespace } from '../support/cluster.js';
import { runAction, sampleWorkspace } from '../support/action.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const ns = uniqueNamespace('e2e-gate');
let ws: string;

const deploy = (inputs: Record<string, string>) => runAction({ image: IMAGE, namespace: ns, timeout: '4m', ...inputs }, { cwd: ws });

type PodEvent = { type: string; object: any };

/** Every pod event of the namespace, in the order the API server stored them (one watch: resourceVersion order). */
async function watchPods(): Promise<{ events: PodEvent[]; stop: () => Promise<void> }> {
  const events: PodEvent[] = [];
  let connected!: () => void;
  const listed = new Promise<void>((r) => (connected = r));
  const child = spawn('kubectl', ['get', '--raw', `/api/v1/namespaces/${ns}/pods?watch=1`], { env: clusterEnv(), stdio: ['ignore', 'pipe', 'ignore'] });
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) events.push(JSON.parse(line) as PodEvent);
      connected();
    }
  });
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  // Connected once the pods already there arrive as ADDED: nothing the release does can be missed.
  await Promise.race([listed, closed]);
  return {
    events,
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
    },
  };
}

const app = (e: PodEvent) => e.object.metadata.labels?.app as string;
const runs = (e: PodEvent, image: string) => e.object.spec.containers[0].image === image;
const migratedOk = (e: PodEvent) =>
  (e.object.status?.initContainerStatuses ?? []).some((s: any) => s.name === 'migrate' && s.state?.terminated?.exitCode === 0);

function celery() {
  const d = kubectlJson(['get', 'deployment', 'celery-worker', '-n', ns]);
  const replicaSets = (kubectlJson(['get', 'replicasets', '-n', ns, '-l', 'app=celery-worker']).items as any[]).map((rs) => rs.metadata.name).sort();
  // Pods of the release before that are still shutting down may go meanwhile: only those that stay count.
  const pods = (kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=celery-worker']).items as any[])
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => p.metadata.uid)
    .sort();
  return { generation: d.metadata.generation, template: JSON.stringify(d.spec.template), replicaSets, pods };
}

beforeAll(async () => {
  ws = sampleWorkspace();
  createAppNamespace(ns);
  const first = await deploy({ tag: 'e2e-gate-v1' });
  expect([first.code, first.outputs['failure-reason']]).toEqual([0, '']);
});

afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('the app phase waits for the migration, not for the backend rollout', () => {
  test('an upgrade: the first new celery-worker pod is created after a new backend pod migrated, while the backend still rolls', async () => {
    const pods = await watchPods();
    const run = await deploy({ tag: 'e2e-gate-v2', 'build-args': 'SIM_MESSAGE=gate v2' });
    await pods.stop();
    expect([run.code, run.outputs.status]).toEqual([0, 'deployed']);
    const image = run.outputs.image;

    const migrated = pods.events.findIndex((e) => app(e) === 'backend' && runs(e, image) && migratedOk(e));
    const celeryStarts = pods.events.findIndex((e) => app(e) === 'celery-worker' && runs(e, image));
    expect(migrated).toBeGreaterThanOrEqual(0);
    expect(celeryStarts).toBeGreaterThan(migrated);
    // The same order in the pods' own timestamps (whole seconds: created no earlier than the second the migration ended in).
    const finishedAt = pods.events[migrated].object.status.initContainerStatuses.find((s: any) => s.name === 'migrate').state.terminated.finishedAt;
    const created = pods.events[celeryStarts].object.metadata.creationTimestamp;
    expect(Date.parse(created)).toBeGreaterThanOrEqual(Math.floor(Date.parse(finishedAt) / 1000) * 1000);

    // celery-worker was applied before the backend's rollout was Ready: the gate is the migration, not the rollout.
    const lines = run.log.split('\n');
    const appApplied = lines.findIndex((l) => l.includes('apply app: '));
    const backendReady = lines.findIndex((l) => /\[migrate\] Deployment\/backend ready: /.test(l));
    expect(lines.some((l) => /^migrate: migration completed \(or unchanged\) after [\d.]+ s/.test(l))).toBe(true);
    expect(appApplied).toBeGreaterThan(0);
    expect(backendReady).toBeGreaterThan(appApplied);
    // Both rolled to the new image.
    expect(kubectlJson(['get', 'deployment', 'celery-worker', '-n', ns]).spec.template.spec.containers[0].image).toBe(image);
    expect(kubectlJson(['get', 'deployment', 'backend', '-n', ns]).status.updatedReplicas).toBeGreaterThanOrEqual(2);
  });

  test('a failing migration: rolled back, and celery-worker never touched (same template, same ReplicaSets, no new pod)', async () => {
    const before = celery();
    const pods = await watchPods();
    const run = await deploy({ tag: 'e2e-gate-migration-fail', 'build-args': 'SIM_BEHAVIOUR=migration-fail' });
    await pods.stop();
    expect(run.outputs.status).toBe('rolled-back');
    expect(run.outputs['failure-reason']).toMatch(/^Deployment\/backend: InitContainerFailed/);
    expect(run.log).not.toMatch(/apply app: /);
    expect(celery()).toEqual(before);
    expect(run.outputs.image).toMatch(/@sha256:/);
    expect(pods.events.filter((e) => app(e) === 'celery-worker' && runs(e, run.outputs.image))).toEqual([]);
    // The backend's new pod did start (and failed its migration).
    expect(new Set(pods.events.filter((e) => app(e) === 'backend').map((e) => e.object.spec.containers[0].image))).toContain(run.outputs.image);
  });
});
