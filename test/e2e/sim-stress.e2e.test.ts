// The node simulator outlives any one pod: pods are deleted in every phase of their lives (just
// created, sandbox up, image pull back-off, migration running, migration back-off, readiness wait,
// crash back-off, Ready, already terminating), whole namespaces are deleted under mixed pods, a
// few hundred times in all. After it the simulator is the same process, every node is Ready, and
// its log shows no error that escaped a pod's handlers.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CLUSTER_DIR, REGISTRY, tryKubectl, uniqueNamespace } from '../support/cluster.js';
import { alive, behaviourImage, componentPid, logSince, logSize, sleep, TASK_FAILED, UNHANDLED, unreadyNodes } from '../support/sim.js';
import { isNotFound, Kube } from '../cluster/sim/kube.js';

const BASE = uniqueNamespace('sim-stress');
const WAVES = 8;
const PODS_PER_WAVE = 30;
const CONFIGMAPS = 8;
/** Phases a pod is deleted in, each seen on the pod's own status before the delete. */
const PHASES = ['created', 'sandbox', 'image-backoff', 'init', 'init-backoff', 'readiness', 'crash-backoff', 'ready', 'terminating'] as const;
type Phase = (typeof PHASES)[number];

const kube = new Kube(CLUSTER_DIR);
const namespaces: string[] = [];
let images: Record<string, string>;
let simPid: number;
let logStart: number;

/** The phases a pod's status shows right now. */
function phasesOf(p: any): Phase[] {
  const out: Phase[] = [];
  const init = p.status?.initContainerStatuses?.[0];
  const main = p.status?.containerStatuses?.[0];
  const waiting = (c: any) => c?.state?.waiting?.reason;
  if (p.metadata.deletionTimestamp) out.push('terminating');
  if (waiting(main) === 'CrashLoopBackOff') out.push('crash-backoff');
  if (waiting(init) === 'CrashLoopBackOff') out.push('init-backoff');
  if (init?.state?.running) out.push('init');
  if (['ErrImagePull', 'ImagePullBackOff'].includes(waiting(init)) || ['ErrImagePull', 'ImagePullBackOff'].includes(waiting(main))) out.push('image-backoff');
  if (main?.state?.running && !main.ready) out.push('readiness');
  if (main?.ready) out.push('ready');
  // The sandbox is up and nothing started yet: the node is pulling and checking env references.
  const sandbox = (p.status?.conditions ?? []).some((c: any) => c.type === 'PodReadyToStartContainers' && c.status === 'True');
  const creating = [init, main].every((c) => !c || ['PodInitializing', 'ContainerCreating'].includes(waiting(c)));
  if (sandbox && creating) out.push('sandbox');
  return out;
}

/** Each kind of pod, and the phases it can be deleted in. */
const KINDS: { kind: string; targets: Phase[]; spec: () => any }[] = [
  { kind: 'missing', targets: ['created', 'sandbox', 'image-backoff'], spec: () => podSpec(`${REGISTRY}/sim-stress:not-pushed`) },
  { kind: 'migration', targets: ['sandbox', 'init', 'init-backoff'], spec: () => podSpec(images.healthy, images['migration-fail']) },
  // A probe delay under the crash delay: the probe sleeps while the process exits.
  { kind: 'crash', targets: ['sandbox', 'readiness', 'crash-backoff', 'terminating'], spec: () => podSpec(images.crash, undefined, 1) },
  { kind: 'slow-ready', targets: ['created', 'readiness', 'ready', 'terminating'], spec: () => podSpec(images.healthy, undefined, 2) },
  { kind: 'never-ready', targets: ['sandbox', 'readiness', 'terminating'], spec: () => podSpec(images['never-ready'], undefined, 1) },
];

/** Every container reads keys of several ConfigMaps, so the simulated kubelet spends its pull phase on real API calls. */
function podSpec(image: string, initImage?: string, probeDelay?: number) {
  const env = Array.from({ length: CONFIGMAPS }, (_, i) => ({ name: `K${i}`, valueFrom: { configMapKeyRef: { name: `cfg-${i}`, key: 'k' } } }));
  return {
    terminationGracePeriodSeconds: 5,
    ...(initImage ? { initContainers: [{ name: 'migrate', image: initImage, env }] } : {}),
    containers: [
      {
        name: 'app',
        image,
        env,
        ...(probeDelay !== undefined
          ? { readinessProbe: { httpGet: { path: '/health', port: 8000 }, initialDelaySeconds: probeDelay, periodSeconds: 1 } }
          : {}),
      },
    ],
  };
}

const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)];
const ignoreGone = (err: unknown) => {
  if (!isNotFound(err)) throw err;
};

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

function assertSimAlive(when: string): void {
  if (alive(simPid) && componentPid('sim') === simPid) return;
  throw new Error(
    `the node simulator (pid ${simPid}) is gone ${when}; its log since the test began:\n${logSince('sim', logStart).split('\n').slice(-40).join('\n')}`,
  );
}

type Tally = { ops: number; deletedIn: Record<string, number>; namespacesDeletedWhole: number };

/**
 * One wave in its own namespace: pods of every kind, each deleted once its status shows the phase
 * drawn for it (or a whole namespace deleted under them, in one wave out of three).
 */
async function wave(index: number, tally: Tally): Promise<void> {
  const ns = `${BASE}-${index}`;
  namespaces.push(ns);
  await kube.create('/api/v1/namespaces', { metadata: { name: ns, labels: { 'medaudit.io/test': 'sim-stress' } } });
  tally.ops++;
  await pool([...Array(CONFIGMAPS).keys()], 4, (i) => kube.create(`/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: `cfg-${i}` }, data: { k: 'v' } }));

  const whole = index % 3 === 2;
  const target = new Map<string, Phase>();
  const deleting = new Set<string>();
  const gone = new Set<string>();
  const del = (name: string, grace: number, phase?: Phase) => {
    tally.ops++;
    if (phase) tally.deletedIn[phase] = (tally.deletedIn[phase] ?? 0) + 1;
    return kube.delete(`/api/v1/namespaces/${ns}/pods/${name}`, { gracePeriodSeconds: grace }).catch(ignoreGone);
  };
  const pending: Promise<unknown>[] = [];
  const onEvent = (type: string, p: any) => {
    const name = p.metadata.name;
    if (type === 'DELETED') return void gone.add(name);
    const want = target.get(name);
    if (!want || whole) return;
    const now = phasesOf(p);
    if (want === 'terminating') {
      // First a graceful delete of a running pod, then a forced one while the node is terminating it.
      if (now.includes('terminating') && !deleting.has(`${name}/force`)) {
        deleting.add(`${name}/force`);
        pending.push(sleep(Math.random() * 300).then(() => del(name, 0, 'terminating')));
      } else if (!deleting.has(name) && (now.includes('readiness') || now.includes('ready') || now.includes('crash-backoff'))) {
        deleting.add(name);
        pending.push(del(name, 30));
      }
    } else if (now.includes(want) && !deleting.has(name)) {
      deleting.add(name);
      pending.push(del(name, pick([0, 30]), want));
    }
  };
  const stop = kube.watch(
    `/api/v1/namespaces/${ns}/pods`,
    (e) => onEvent(e.type, e.object),
    () => undefined,
  );
  try {
    const pods = Array.from({ length: PODS_PER_WAVE }, (_, i) => {
      const k = KINDS[i % KINDS.length];
      const nth = Math.floor(i / KINDS.length) + index;
      return { name: `${k.kind}-${i}`, kind: k, phase: k.targets[nth % k.targets.length] };
    });
    await pool(pods, 6, async (p) => {
      target.set(p.name, p.phase);
      await kube.create(`/api/v1/namespaces/${ns}/pods`, { metadata: { name: p.name }, spec: p.kind.spec() });
      tally.ops++;
      if (p.phase === 'created' && !whole) {
        deleting.add(p.name);
        pending.push(del(p.name, 0, 'created'));
      }
    });
    if (whole) {
      // Mixed phases by now: pulls, migrations, probes, crash loops.
      await sleep(1000 + Math.random() * 2000);
    } else {
      const end = Date.now() + 12_000;
      while (gone.size < pods.length && Date.now() < end) await sleep(200);
      // A pod that never reached its phase in time is deleted as it is.
      for (const p of pods) if (!deleting.has(p.name) && !gone.has(p.name)) pending.push(del(p.name, 0));
    }
    await Promise.all(pending);
  } finally {
    stop();
  }
  await kube.delete(`/api/v1/namespaces/${ns}`).catch(ignoreGone);
  tally.ops++;
  if (whole) tally.namespacesDeletedWhole++;
  assertSimAlive(`after wave ${index}`);
}

beforeAll(() => {
  images = Object.fromEntries(['healthy', 'crash', 'never-ready', 'migration-fail'].map((b) => [b, behaviourImage('sim-stress', b, { SIM_BEHAVIOUR: b })]));
  simPid = componentPid('sim');
  logStart = logSize('sim');
});
afterAll(() => {
  for (const ns of namespaces) tryKubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
});

describe('the node simulator under churn', () => {
  test('survives pods and namespaces deleted in every phase, a few hundred times', async () => {
    expect(alive(simPid)).toBe(true);
    const started = Date.now();
    const tally: Tally = { ops: 0, deletedIn: {}, namespacesDeletedWhole: 0 };
    // Two waves at a time: one's teardown overlaps the next one's start.
    await pool([...Array(WAVES).keys()], 2, (i) => wave(i, tally));
    console.log(
      `sim-stress: ${tally.ops} creates and deletes in ${((Date.now() - started) / 1000).toFixed(1)} s; deleted in: ${JSON.stringify(tally.deletedIn)}`,
    );

    // Every namespace drains: the simulated kubelets finish each pod's deletion.
    const end = Date.now() + 60_000;
    let left: string[] = namespaces;
    while (left.length && Date.now() < end) {
      await sleep(1000);
      const present = await Promise.all(
        left.map((ns) =>
          kube.get(`/api/v1/namespaces/${ns}`).then(
            () => true,
            (err) => !isNotFound(err),
          ),
        ),
      );
      left = left.filter((_, i) => present[i]);
    }
    expect(left).toEqual([]);

    assertSimAlive('at the end');
    expect(componentPid('sim')).toBe(simPid);
    expect(unreadyNodes()).toEqual([]);
    const log = logSince('sim', logStart);
    expect(log.split('\n').filter((l) => UNHANDLED.test(l) || (l.includes(BASE) && TASK_FAILED.test(l)))).toEqual([]);

    expect(tally.ops).toBeGreaterThanOrEqual(300);
    expect(tally.namespacesDeletedWhole).toBeGreaterThanOrEqual(2);
    // Every phase was actually hit, else the churn proves less than it claims.
    expect(PHASES.filter((p) => !tally.deletedIn[p])).toEqual([]);
  }, 170_000);
});
