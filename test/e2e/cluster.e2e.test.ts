// The local cluster behaves as upstream Kubernetes does, with nodes whose pods report status the
// way a real kubelet would, for each of the behaviours the action must recognise.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CLUSTER_DIR, docker, kubectl, kubectlJson, REGISTRY, uniqueNamespace, waitFor } from '../support/cluster.js';
import { sampleWorkspace } from '../support/action.js';
import { Kube } from '../cluster/sim/kube.js';

const ns = uniqueNamespace('cluster-e2e');
const SAMPLE = `${REGISTRY}/cluster-sample`;

function buildSample(tag: string, behaviour: string, ...buildArgs: string[]): string {
  const ws = sampleWorkspace();
  const extra = buildArgs.flatMap((a) => ['--build-arg', a]);
  docker(['build', '-q', '-f', `${ws}/Dockerfile.prod`, '--build-arg', `SIM_BEHAVIOUR=${behaviour}`, ...extra, '-t', `${SAMPLE}:${tag}`, ws]);
  docker(['push', `${SAMPLE}:${tag}`]);
  return `${SAMPLE}:${tag}`;
}

function deployment(name: string, image: string, replicas = 3): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image,
              readinessProbe: { httpGet: { path: '/health', port: 8000 }, periodSeconds: 2 },
              resources: { requests: { cpu: '100m', memory: '64Mi' } },
            },
          ],
        },
      },
    },
  });
}

/** A bare pod with a migration init container and a main container, both from `image`. */
function pod(name: string, image: string, extra: Record<string, any> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      initContainers: [{ name: 'migrate', image, command: ['alembic', 'upgrade', 'head'] }],
      containers: [
        {
          name: 'app',
          image,
          readinessProbe: { httpGet: { path: '/health', port: 8000 }, initialDelaySeconds: 1, periodSeconds: 1 },
          resources: { requests: { cpu: '100m', memory: '64Mi' } },
          ...extra,
        },
      ],
    },
  });
}

const getPod = (name: string) => kubectlJson(['get', 'pod', name, '-n', ns]);
const condition = (p: any, type: string) => p.status.conditions.find((c: any) => c.type === type);
const events = (name: string) =>
  (kubectlJson(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${name}`]).items as any[]).map((e) => ({
    reason: e.reason,
    type: e.type,
    message: e.message,
    count: e.count,
  }));

/** Reads until `check` holds, twice a second: these states have no condition `kubectl wait` could name. */
async function until<T>(what: string, read: () => T, check: (v: T) => boolean, seconds = 60): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = read();
    if (check(v)) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen in ${seconds}s: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(() => {
  kubectl(['create', 'namespace', ns]);
});
afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('the control plane and its nodes', () => {
  test('several Ready nodes with realistic capacity', () => {
    const nodes = kubectlJson(['get', 'nodes']).items as any[];
    expect(nodes.length).toBeGreaterThanOrEqual(3);
    for (const n of nodes) {
      expect(n.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
      expect(n.status.allocatable.cpu).toBe('3800m');
      expect(n.status.nodeInfo.kubeletVersion).toMatch(/^v1\.3\d\./);
    }
    expect(kubectl(['version', '-o', 'json'])).toContain('"gitVersion": "v1.34');
  });

  test('a Deployment of 3 replicas reaches available 3, spread by the real scheduler', () => {
    kubectl(['apply', '-f', '-'], { input: deployment('web', 'nginx:1.27') });
    kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
    const d = kubectlJson(['get', 'deployment', 'web', '-n', ns]);
    expect(d.status.availableReplicas).toBe(3);
    const nodes = new Set((kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=web']).items as any[]).map((p) => p.spec.nodeName));
    expect(nodes.size).toBeGreaterThan(1);
  });

  test('a rolling update completes, and rollout undo --to-revision=1 brings revision 1 back as revision 3', () => {
    kubectl(['set', 'image', 'deployment/web', 'app=nginx:1.28', '-n', ns]);
    kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
    let d = kubectlJson(['get', 'deployment', 'web', '-n', ns]);
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
    expect(d.status.updatedReplicas).toBe(3);
    kubectl(['rollout', 'undo', 'deployment/web', '-n', ns, '--to-revision=1']);
    kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
    d = kubectlJson(['get', 'deployment', 'web', '-n', ns]);
    expect(d.spec.template.spec.containers[0].image).toBe('nginx:1.27');
    expect(d.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
    const rs = (kubectlJson(['get', 'replicasets', '-n', ns, '-l', 'app=web']).items as any[]).map((r) => [
      r.spec.template.spec.containers[0].image,
      r.metadata.annotations['deployment.kubernetes.io/revision'],
      r.status.replicas,
    ]);
    expect(rs).toEqual(
      expect.arrayContaining([
        ['nginx:1.27', '3', 3],
        ['nginx:1.28', '2', 0],
      ]),
    );
  });

  test('a StatefulSet rolls out pod by pod, highest ordinal first', async () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: ns },
      spec: {
        replicas: 3,
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: { containers: [{ name: 'db', image: 'postgres:16-alpine', readinessProbe: { exec: { command: ['pg_isready'] }, initialDelaySeconds: 1 } }] },
        },
      },
    };
    kubectl(['apply', '-f', '-'], { input: JSON.stringify(sts) });
    kubectl(['rollout', 'status', 'statefulset/db', '-n', ns, '--timeout=90s']);
    sts.spec.template.spec.containers[0].image = 'postgres:16.4-alpine';
    kubectl(['apply', '-f', '-'], { input: JSON.stringify(sts) });
    kubectl(['rollout', 'status', 'statefulset/db', '-n', ns, '--timeout=90s']);
    const pods = (kubectlJson(['get', 'pods', '-n', ns, '-l', 'app=db']).items as any[]).map((p) => ({
      name: p.metadata.name,
      created: Date.parse(p.metadata.creationTimestamp),
      image: p.spec.containers[0].image,
    }));
    expect(pods.every((p) => p.image === 'postgres:16.4-alpine')).toBe(true);
    const order = [...pods].sort((a, b) => a.created - b.created).map((p) => p.name);
    expect(order).toEqual(['db-2', 'db-1', 'db-0']);
  });
});

describe('pod behaviours, field by field as a kubelet reports them', () => {
  let images: Record<string, string>;
  beforeAll(() => {
    images = Object.fromEntries(['healthy', 'crash', 'oom', 'never-ready', 'migration-fail'].map((b) => [b, buildSample(b, b)]));
    kubectl(['create', 'configmap', 'cfg', '-n', ns, '--from-literal=PRESENT=1']);
  });

  test('1. healthy: init container Completed, then Running, Ready after the readiness delay', async () => {
    kubectl(['apply', '-f', '-'], { input: pod('healthy', images.healthy) });
    waitFor('pod/healthy', ns, 'condition=Ready', '60s');
    const p = getPod('healthy');
    expect(p.status.phase).toBe('Running');
    for (const t of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) expect(condition(p, t).status).toBe('True');
    const init = p.status.initContainerStatuses[0];
    expect(init.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const c = p.status.containerStatuses[0];
    expect(c.state.running.startedAt).toBeDefined();
    expect(c).toMatchObject({ ready: true, restartCount: 0, started: true });
    expect(c.imageID).toMatch(/^127\.0\.0\.1:5000\/cluster-sample@sha256:[0-9a-f]{64}$/);
    expect(Date.parse(condition(p, 'Ready').lastTransitionTime)).toBeGreaterThanOrEqual(Date.parse(c.state.running.startedAt) + 1000);
    expect(kubectl(['logs', 'healthy', '-n', ns, '-c', 'app'])).toContain('Uvicorn running');
  });

  test('2. image missing from the registry: ErrImagePull then ImagePullBackOff, not found', async () => {
    const missing = `${SAMPLE}:does-not-exist`;
    kubectl(['apply', '-f', '-'], { input: pod('missing', missing) });
    const p = await until(
      'ImagePullBackOff',
      () => getPod('missing'),
      (p) => p.status.initContainerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff',
    );
    expect(p.status.phase).toBe('Pending');
    expect(p.status.initContainerStatuses[0].state.waiting.message).toMatch(/not found/);
    const ev = events('missing');
    expect(ev).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'Failed', type: 'Warning', message: expect.stringMatching(/^Failed to pull image .*not found/) }),
        expect.objectContaining({ reason: 'Failed', message: 'Error: ErrImagePull' }),
        expect.objectContaining({ reason: 'BackOff', message: `Back-off pulling image "${missing}"` }),
      ]),
    );
  });

  test('3. crash after start: exit 1, restartCount climbing, CrashLoopBackOff, previous logs', async () => {
    kubectl(['apply', '-f', '-'], { input: pod('crash', images.crash) });
    const p = await until(
      'CrashLoopBackOff',
      () => getPod('crash'),
      (p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff',
    );
    const c = p.status.containerStatuses[0];
    expect(p.status.phase).toBe('Running');
    expect(c.restartCount).toBeGreaterThanOrEqual(1);
    expect(c.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(c.state.waiting.message).toMatch(/^back-off 10s restarting failed container=app pod=crash_/);
    expect(kubectl(['logs', 'crash', '-n', ns, '-c', 'app', '--previous'])).toMatch(/RuntimeError/);
    expect(events('crash')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'BackOff', type: 'Warning', message: expect.stringMatching(/^Back-off restarting failed container app/) }),
      ]),
    );
    const later = await until(
      'a second restart',
      () => getPod('crash'),
      (p) => p.status.containerStatuses[0].restartCount >= 2,
      40,
    );
    expect(later.status.containerStatuses[0].restartCount).toBeGreaterThan(c.restartCount);
  });

  test('4. OOMKilled: lastState.terminated reason OOMKilled, exit 137', async () => {
    kubectl(['apply', '-f', '-'], { input: pod('oom', images.oom) });
    const p = await until(
      'OOMKilled',
      () => getPod('oom'),
      (p) => p.status.containerStatuses?.[0]?.lastState?.terminated?.reason === 'OOMKilled',
    );
    expect(p.status.containerStatuses[0].lastState.terminated.exitCode).toBe(137);
    expect(p.status.containerStatuses[0].state.waiting.reason).toBe('CrashLoopBackOff');
  });

  test('5. readiness never passes: Running, not Ready, Unhealthy events', async () => {
    kubectl(['apply', '-f', '-'], { input: pod('never', images['never-ready']) });
    await until(
      'Unhealthy events',
      () => events('never'),
      (ev) => ev.some((e) => e.reason === 'Unhealthy'),
    );
    const p = getPod('never');
    expect(p.status.phase).toBe('Running');
    expect(p.status.containerStatuses[0]).toMatchObject({ ready: false, started: true, restartCount: 0 });
    expect(condition(p, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(events('never').find((e) => e.reason === 'Unhealthy')).toMatchObject({
      type: 'Warning',
      message: 'Readiness probe failed: HTTP probe failed with statuscode: 503',
    });
  });

  test('6. the migration init container exits non-zero: Init:Error then Init:CrashLoopBackOff', async () => {
    kubectl(['apply', '-f', '-'], { input: pod('migfail', images['migration-fail']) });
    const p = await until(
      'Init:CrashLoopBackOff',
      () => getPod('migfail'),
      (p) => p.status.initContainerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff',
    );
    const init = p.status.initContainerStatuses[0];
    expect(init.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(init.restartCount).toBeGreaterThanOrEqual(1);
    expect(p.status.phase).toBe('Pending');
    expect(condition(p, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized' });
    expect(p.status.containerStatuses[0].state.waiting.reason).toBe('PodInitializing');
    expect(kubectl(['get', 'pod', 'migfail', '-n', ns])).toMatch(/Init:CrashLoopBackOff/);
    expect(kubectl(['logs', 'migfail', '-n', ns, '-c', 'migrate', '--previous'])).toMatch(/alembic|DuplicateTable/);
  });

  test('7. a missing ConfigMap key: CreateContainerConfigError, checked against the real ConfigMap', async () => {
    const env = [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'ABSENT' } } }];
    kubectl(['apply', '-f', '-'], { input: pod('cfgerr', images.healthy, { env }) });
    const p = await until(
      'CreateContainerConfigError',
      () => getPod('cfgerr'),
      (p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError',
    );
    expect(p.status.containerStatuses[0].state.waiting.message).toBe(`couldn't find key ABSENT in ConfigMap ${ns}/cfg`);
    // Once the key exists, the same pod starts: the check reads the object for real.
    kubectl(['patch', 'configmap', 'cfg', '-n', ns, '--type=merge', '-p', '{"data":{"ABSENT":"now here"}}']);
    waitFor('pod/cfgerr', ns, 'condition=Ready', '60s');
  });

  test('8. unschedulable: requests larger than any node, FailedScheduling from the real scheduler', async () => {
    kubectl(['apply', '-f', '-'], { input: pod('huge', images.healthy, { resources: { requests: { cpu: '64' } } }) });
    const p = await until(
      'Unschedulable',
      () => getPod('huge'),
      (p) => p.status.conditions?.some((c: any) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'),
    );
    expect(condition(p, 'PodScheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(p.spec.nodeName).toBeUndefined();
    await until(
      'FailedScheduling',
      () => events('huge'),
      (ev) => ev.some((e) => e.reason === 'FailedScheduling'),
    );
    expect(events('huge').find((e) => e.reason === 'FailedScheduling')!.message).toMatch(/Insufficient cpu/);
  });

  test('9. a flaky start (crash-first, crashes=1): one crash, one back-off, then Running and Ready for good', async () => {
    const image = buildSample('crash-first', 'crash-first', 'SIM_CRASHES=1');
    // Every status the node writes, in order, as "state/restartCount/ready".
    const seen: string[] = [];
    const kube = new Kube(CLUSTER_DIR);
    let listed!: () => void;
    const watching = new Promise<void>((r) => (listed = r));
    const stop = kube.watch(
      `/api/v1/namespaces/${ns}/pods?fieldSelector=metadata.name=flaky`,
      (e) => {
        const c = e.object.status?.containerStatuses?.[0];
        const state = c && Object.keys(c.state ?? {})[0];
        const step = c && `${state}${c.state?.[state]?.reason ? `:${c.state[state].reason}` : ''}/${c.restartCount}/${c.ready}`;
        if (step && seen[seen.length - 1] !== step) seen.push(step);
      },
      () => undefined,
      () => listed(),
    );
    try {
      await watching;
      // The probe comes after the crash (about 1 s in), so the crashing run is never Ready.
      kubectl(['apply', '-f', '-'], {
        input: pod('flaky', image, { readinessProbe: { httpGet: { path: '/health', port: 8000 }, initialDelaySeconds: 2, periodSeconds: 1 } }),
      });
      const p = await until(
        'Ready after one restart',
        () => getPod('flaky'),
        (p) => condition(p, 'Ready')?.status === 'True',
        40,
      );
      const c = p.status.containerStatuses[0];
      expect(c).toMatchObject({ ready: true, restartCount: 1, started: true });
      expect(c.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
      expect(p.status.phase).toBe('Running');
      expect(kubectl(['logs', 'flaky', '-n', ns, '-c', 'app', '--previous'])).toMatch(/RuntimeError/);
      expect(kubectl(['logs', 'flaky', '-n', ns, '-c', 'app'])).toContain('Uvicorn running');
      expect(events('flaky').filter((e) => e.reason === 'BackOff')).toHaveLength(1);
      // The second start is the healthy one for good: no crash a few seconds on.
      await new Promise((r) => setTimeout(r, 3000));
      expect(getPod('flaky').status.containerStatuses[0]).toMatchObject({ ready: true, restartCount: 1, state: { running: expect.anything() } });
      // Every status the node wrote, in order (read last: the watch may trail the polls above).
      expect(seen).toEqual([
        'waiting:PodInitializing/0/false',
        'running/0/false',
        'terminated:Error/0/false',
        'waiting:CrashLoopBackOff/1/false',
        'running/1/false',
        'running/1/true',
      ]);
    } finally {
      stop();
    }
  });
});
