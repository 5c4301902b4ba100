// The local cluster survives a restart of its real kube-apiserver under running pods: the
// simulated kubelets reconnect, write again what they could not write meanwhile, overwrite the
// node lifecycle controller's not-Ready marks, keep their nodes Ready; the controller-manager
// and the scheduler go on by themselves.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { CLUSTER_DIR, clusterEnv, kubectl, kubectlJson, REPO, uniqueNamespace } from '../support/cluster.js';
import { alive, componentPid, logSince, logSize, sleep, UNHANDLED, unreadyNodes } from '../support/sim.js';
import { Kube } from '../cluster/sim/kube.js';

const ns = uniqueNamespace('cluster-restart');
const kube = new Kube(CLUSTER_DIR);
let logStart: number;

const probe = (delay: number) => ({ httpGet: { path: '/health', port: 8000 }, initialDelaySeconds: delay, periodSeconds: 1 });

function deployment(replicas: number, image = 'nginx:1.27') {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas,
      // Every new pod at once: the test is about the controllers working, not about pacing.
      strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: 0 } },
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image, readinessProbe: probe(1) }] } },
    },
  });
}

const pods = () => kubectlJson(['get', 'pods', '-n', ns]).items as any[];
const ready = (p: any) => (p.status?.conditions ?? []).find((c: any) => c.type === 'Ready')?.status === 'True';
const notReady = () =>
  pods()
    .filter((p) => !ready(p))
    .map((p) => `${p.metadata.name} ${p.status?.phase}`);

/** Polls until `read()` is empty, or fails with what is left. */
async function untilNone(what: string, read: () => string[], seconds: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const left = read();
    if (left.length === 0) return Date.now() - started;
    if (Date.now() - started > seconds * 1000) throw new Error(`${what} after ${seconds}s: ${left.join(', ')}`);
    await sleep(500);
  }
}

/** Runs a bash line with the cluster scripts' helpers (lib.sh) at hand. */
const clusterScript = (line: string) =>
  execFileSync('bash', ['-c', `source test/cluster/lib.sh; ${line}`], { cwd: REPO, env: clusterEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The other components must keep running through it all, as the same processes. */
const others = ['etcd', 'kube-controller-manager', 'kube-scheduler', 'sim'];
let otherPids: number[];

beforeAll(() => {
  kubectl(['create', 'namespace', ns]);
  kubectl(['apply', '-f', '-'], { input: deployment(3) });
  kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
  otherPids = others.map(componentPid);
  logStart = logSize('sim');
});
afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('a kube-apiserver restart', () => {
  test('restarted (up.sh --restart) while a pod becomes Ready: after it, every pod and node is Ready', async () => {
    // Ready 2 s after it starts: while the API server is down, so the node's write of it fails.
    const late = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'late', namespace: ns },
      spec: { containers: [{ name: 'app', image: 'nginx:1.27', readinessProbe: probe(2) }] },
    };
    kubectl(['apply', '-f', '-'], { input: JSON.stringify(late) });
    await untilNone(
      'pod late not running',
      () => (pods().find((p) => p.metadata.name === 'late')?.status?.containerStatuses?.[0]?.state?.running ? [] : ['late']),
      30,
    );
    const apiserver = componentPid('kube-apiserver');
    const t0 = Date.now();
    // Stops it by its pid file, then starts it with the same command line.
    execFileSync('bash', ['test/cluster/up.sh', '--restart', 'kube-apiserver'], { cwd: REPO, env: clusterEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const down = Date.now() - t0;
    expect(alive(apiserver)).toBe(false);
    expect(componentPid('kube-apiserver')).not.toBe(apiserver);

    const podsIn = await untilNone('pods not Ready', notReady, 30);
    expect(pods().map((p) => p.metadata.name)).toContain('late');
    // The scenario did happen: the node's write of late's readiness failed while the server was down.
    expect(logSince('sim', logStart)).toMatch(new RegExp(`status ${ns}/late: .*\\(retrying\\)`));
    await untilNone('nodes not Ready', unreadyNodes, 30);
    console.log(`cluster-restart: API server restarted in ${(down / 1000).toFixed(1)} s; pods Ready ${(podsIn / 1000).toFixed(1)} s after it was back`);
    expect(others.map(componentPid)).toEqual(otherPids);
    expect(otherPids.every(alive)).toBe(true);
  }, 120_000);

  test("the node lifecycle controller's marks (pods Ready=False, node Ready=Unknown) are overwritten", async () => {
    // What it writes when it loses a node's heartbeats: MarkPodsNotReady, and the node's Ready condition.
    for (const p of pods()) {
      delete p.metadata.resourceVersion;
      p.status.conditions = p.status.conditions.map((c: any) =>
        c.type === 'Ready' ? { ...c, status: 'False', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } : c,
      );
      await kube.replace(`/api/v1/namespaces/${ns}/pods/${p.metadata.name}/status`, p);
    }
    const node = kubectlJson(['get', 'node', pods()[0].spec.nodeName]);
    delete node.metadata.resourceVersion;
    node.status.conditions = node.status.conditions.map((c: any) =>
      c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' } : c,
    );
    await kube.replace(`/api/v1/nodes/${node.metadata.name}/status`, node);
    await untilNone('pods not Ready again', notReady, 15);
    await untilNone('nodes not Ready again', unreadyNodes, 30);
  }, 60_000);

  test('the controller-manager and the scheduler work again by themselves: the Deployment scales and rolls', async () => {
    // Their informers re-watch with client-go's back-off (0.8 s doubling to 30 s, reset after 2 min
    // without failure): a few seconds after one restart, up to a minute after several in a row.
    const t0 = Date.now();
    kubectl(['apply', '-f', '-'], { input: deployment(5, 'nginx:1.28') });
    kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=90s']);
    console.log(`cluster-restart: Deployment scaled and rolled in ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart`);
    const d = kubectlJson(['get', 'deployment', 'web', '-n', ns]);
    expect(d.status).toMatchObject({ readyReplicas: 5, updatedReplicas: 5, availableReplicas: 5 });
    await untilNone('pods not Ready', notReady, 30);
    await untilNone('nodes not Ready', unreadyNodes, 30);
    expect(others.map(componentPid)).toEqual(otherPids);
    expect(otherPids.every(alive)).toBe(true);
    expect(logSince('sim', logStart)).not.toMatch(UNHANDLED);
    // Only now: the reconnect is the simulator's, not a restart of it.
    expect(clusterScript('pid_alive "$CLUSTER_DIR/pids/sim" && echo alive').trim()).toBe('alive');
  }, 120_000);
});
