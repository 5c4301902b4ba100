// Watches every changed workload at once (API watches through kubectl, no polling) and returns
// as soon as all are Ready, or the moment one shows a failure signal, or at the deadline.
import type { Kubectl } from '../kube/kubectl.js';
import type { KubeObject } from '../manifests/objects.js';
import {
  daemonSetVerdict,
  DEFAULT_VERDICT_OPTIONS,
  deploymentVerdict,
  isPodReady,
  newDaemonSetPods,
  newDeploymentPods,
  newStatefulSetPods,
  PodFailure,
  statefulSetVerdict,
  unreadyAtDeadline,
  Verdict,
} from './verdict.js';

export type Target = { kind: string; name: string };
export type Outcome = {
  ok: boolean;
  verdicts: Map<string, Verdict>;
  /** Why it ended badly: a failure signal, the deadline, or a problem seen while soaking. */
  cause?: 'failure' | 'timeout' | 'soak';
  /** When the earliest pod of a failing workload was created: how long the doomed release ran. */
  firstDoomedPodAt?: number;
};
export type WatchOptions = { timeoutMs: number; soakMs?: number; log: (line: string) => void };

const RESOURCES: Record<string, string> = {
  Deployment: 'apis/apps/v1/namespaces/NS/deployments',
  StatefulSet: 'apis/apps/v1/namespaces/NS/statefulsets',
  DaemonSet: 'apis/apps/v1/namespaces/NS/daemonsets',
  ReplicaSet: 'apis/apps/v1/namespaces/NS/replicasets',
  Pod: 'api/v1/namespaces/NS/pods',
};

export const targetId = (t: Target) => `${t.kind}/${t.name}`;

type Cache = Map<string, Map<string, KubeObject>>;

/** The new revision's pods of a workload, the only ones judged. */
function podsOf(t: Target, cache: Cache): KubeObject[] {
  const obj = cache.get(t.kind)?.get(t.name);
  const pods = [...(cache.get('Pod')?.values() ?? [])];
  if (!obj) return [];
  if (t.kind === 'Deployment') return newDeploymentPods(obj, [...(cache.get('ReplicaSet')?.values() ?? [])], pods);
  if (t.kind === 'StatefulSet') return newStatefulSetPods(obj, pods);
  return newDaemonSetPods(obj, pods);
}

export function judge(t: Target, cache: Cache, now: number): Verdict {
  const obj = cache.get(t.kind)?.get(t.name);
  const opts = { ...DEFAULT_VERDICT_OPTIONS, now };
  if (!obj) return { state: 'progressing', message: 'not created yet', failures: [] };
  const pods = [...(cache.get('Pod')?.values() ?? [])];
  if (t.kind === 'Deployment') return deploymentVerdict(obj, [...(cache.get('ReplicaSet')?.values() ?? [])], pods, opts);
  if (t.kind === 'StatefulSet') return statefulSetVerdict(obj, pods, opts);
  return daemonSetVerdict(obj, pods, opts);
}

type PodHealth = { restarts: number; ready: boolean; exited: boolean };

/** Restart counts, readiness and exits of the new pods: a soak fails when any gets worse. */
function health(t: Target, cache: Cache): Map<string, PodHealth> {
  const out = new Map<string, PodHealth>();
  for (const p of podsOf(t, cache)) {
    const statuses: any[] = p.status?.containerStatuses ?? [];
    const restarts = statuses.reduce((n: number, c: any) => n + (c.restartCount ?? 0), 0);
    const exited = statuses.some((c) => !c.state?.running);
    out.set(p.metadata.name, { restarts, ready: isPodReady(p), exited });
  }
  return out;
}

function soakFailures(t: Target, before: Map<string, PodHealth>, cache: Cache): PodFailure[] {
  const out: PodFailure[] = [];
  for (const [pod, now] of health(t, cache)) {
    const was = before.get(pod);
    if (!was) {
      before.set(pod, now);
      continue;
    }
    // A crash shows first as lost readiness with the container gone, then as a restart.
    if (now.restarts > was.restarts || (now.exited && !was.exited)) {
      const message = now.restarts > was.restarts ? `restarted ${now.restarts - was.restarts} time(s) after it was Ready` : 'its container exited after it was Ready';
      out.push({ pod, reason: 'RestartedWhileSoaking', message, hint: 'the release crashes some time after start: read the log below', previousLogs: now.restarts > was.restarts });
    }
    else if (was.ready && !now.ready) out.push({ pod, reason: 'ReadinessLostWhileSoaking', message: 'was Ready, then failed its readiness probe', hint: 'the release degrades after start: see the Unhealthy events below' });
  }
  return out;
}

export function watchRollout(kubectl: Kubectl, namespace: string, targets: Target[], opts: WatchOptions): Promise<Outcome> {
  const cache: Cache = new Map();
  const kinds = [...new Set([...targets.map((t) => t.kind), 'Pod', ...(targets.some((t) => t.kind === 'Deployment') ? ['ReplicaSet'] : [])])];
  const last = new Map<string, string>();
  const streams: { stop: () => void }[] = [];
  let finished = false;
  let soakStart: number | undefined;
  let soakBaseline: Map<string, Map<string, PodHealth>> | undefined;
  let stopReopening = () => {};

  return new Promise<Outcome>((resolve) => {
    const finish = (ok: boolean, verdicts: Map<string, Verdict>, cause?: Outcome['cause']) => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      clearTimeout(soakTimer);
      clearInterval(ticker);
      stopReopening();
      streams.forEach((s) => s.stop());
      let firstDoomedPodAt: number | undefined;
      for (const t of targets) {
        if (verdicts.get(targetId(t))?.state !== 'failed') continue;
        for (const p of podsOf(t, cache)) {
          const at = Date.parse(p.metadata.creationTimestamp as string);
          if (!firstDoomedPodAt || at < firstDoomedPodAt) firstDoomedPodAt = at;
        }
      }
      resolve({ ok, verdicts, cause, firstDoomedPodAt });
    };

    const evaluate = () => {
      if (finished || loaded.size < kinds.length) return;
      const now = Date.now();
      const verdicts = new Map(targets.map((t) => [targetId(t), judge(t, cache, now)] as const));
      for (const t of targets) {
        const v = verdicts.get(targetId(t))!;
        const line = `${v.state === 'ready' ? 'ready' : v.state === 'failed' ? 'FAILED' : 'waiting'}: ${v.message}`;
        if (last.get(targetId(t)) !== line) {
          last.set(targetId(t), line);
          opts.log(`${targetId(t)} ${line}`);
        }
      }
      if ([...verdicts.values()].some((v) => v.state === 'failed')) return finish(false, verdicts, soakStart ? 'soak' : 'failure');
      if (soakBaseline) {
        for (const t of targets) {
          const failures = soakFailures(t, soakBaseline.get(targetId(t))!, cache);
          if (failures.length) {
            verdicts.set(targetId(t), { state: 'failed', message: `${failures[0].pod}: ${failures[0].reason}`, failures });
            return finish(false, verdicts, 'soak');
          }
        }
        return;
      }
      if ([...verdicts.values()].every((v) => v.state === 'ready')) {
        if (!opts.soakMs) return finish(true, verdicts);
        soakStart = now;
        soakBaseline = new Map(targets.map((t) => [targetId(t), health(t, cache)] as const));
        opts.log(`all ready; soaking for ${Math.round(opts.soakMs / 1000)}s to catch restarts and readiness flaps`);
        soakTimer = setTimeout(() => {
          const final = new Map(targets.map((t) => [targetId(t), judge(t, cache, Date.now())] as const));
          finish(true, final);
        }, opts.soakMs);
      }
    };

    const deadline = setTimeout(() => {
      const now = Date.now();
      const verdicts = new Map<string, Verdict>();
      for (const t of targets) {
        const v = judge(t, cache, now);
        if (v.state !== 'progressing') {
          verdicts.set(targetId(t), v);
          continue;
        }
        const unready = unreadyAtDeadline(podsOf(t, cache), now);
        const failures = unready.length
          ? unready
          : [{ pod: t.name, reason: 'Timeout', message: `still ${v.message} at the deadline`, hint: 'raise timeout, or look at why the controller makes no progress' }];
        verdicts.set(targetId(t), { state: 'failed', message: `timed out: ${v.message}`, failures });
      }
      finish(false, verdicts, 'timeout');
    }, opts.timeoutMs);
    let soakTimer: NodeJS.Timeout | undefined;
    // Grace periods (unschedulable, pull errors) elapse without any event: look again each second.
    const ticker = setInterval(evaluate, 1000);

    // List, then watch from that list's resourceVersion, per kind: the cache is complete before
    // anything is judged, and a reopened watch starts from a fresh list (no stale objects).
    const loaded = new Set<string>();
    const reopen = new Set<NodeJS.Timeout>();
    const open = async (kind: string): Promise<void> => {
      if (finished) return;
      const base = `/${RESOURCES[kind].replace('NS', namespace)}`;
      let list: { metadata: { resourceVersion: string }; items: KubeObject[] };
      try {
        list = await kubectl.raw(base);
      } catch (err) {
        opts.log(`listing ${kind}s failed: ${(err as Error).message.split('\n')[0]}; retrying`);
        const t = setTimeout(() => void open(kind), 1000);
        reopen.add(t);
        return;
      }
      if (finished) return;
      cache.set(kind, new Map(list.items.map((o) => [o.metadata.name, o])));
      loaded.add(kind);
      const stream = kubectl.watch(`${base}?watch=1&resourceVersion=${list.metadata.resourceVersion}`, (e) => {
        if (e.type === 'ERROR') return;
        const byName = cache.get(kind)!;
        if (e.type === 'DELETED') byName.delete(e.object.metadata.name);
        else byName.set(e.object.metadata.name, e.object);
        evaluate();
      });
      streams.push(stream);
      // The server ends watches after a while: list and watch again until the rollout is decided.
      void stream.done.then(() => {
        if (finished) return;
        const t = setTimeout(() => void open(kind), 200);
        reopen.add(t);
      });
      evaluate();
    };
    stopReopening = () => reopen.forEach((t) => clearTimeout(t));
    for (const kind of kinds) void open(kind);
  });
}
