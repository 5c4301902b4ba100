// Watches every changed workload at once (API watches through kubectl, no polling) and returns
// as soon as all are Ready, or the moment one shows a failure signal, or at the deadline.
import type { KubeClient, WatchStream } from '../kube/client.js';
import type { KubeEvent, KubeObject, List, Pod } from '../kube/objects.js';
import { collectionPath } from '../kube/resources.js';
import { autoscalerWords, DEFAULT_VERDICT_OPTIONS, isPodReady, unreadyAtDeadline, type PodFailure, type Verdict, type VerdictOptions } from './verdict.js';
import { ranToCompletion, workloadId, workloadKind, type Related, type WorkloadRef } from './workloads.js';

export type Outcome = {
  ok: boolean;
  verdicts: Map<string, Verdict>;
  /** Why it ended badly: a failure signal, the deadline, or a problem seen while soaking. */
  cause?: 'failure' | 'timeout' | 'soak' | 'cancelled';
  /** When the earliest pod of a failing workload was created: how long the doomed release ran. */
  firstDoomedPodAt?: number;
};
/** The judgement the release asks for: its failure allowance and stability window. */
export type Judgement = Pick<VerdictOptions, 'failuresAllowed' | 'stableSeconds'>;
/** What the watch has seen so far: the live workloads and the objects their verdicts read. */
export type LiveView = { workload(w: WorkloadRef): KubeObject | undefined; related: Related };
export type WatchOptions = {
  timeoutMs: number;
  soakMs?: number;
  log: (line: string) => void;
  signal?: AbortSignal;
  judgement?: Judgement;
  /** Shown each change once every kind is listed: what a phase's gate reads while the rollout goes on. */
  observe?: (view: LiveView) => void;
};

/** The live objects seen so far, by kind and name: complete for a kind once it is listed. */
class Cache {
  private readonly byKind = new Map<string, Map<string, KubeObject>>();

  load(kind: string, items: KubeObject[]): void {
    this.byKind.set(kind, new Map(items.map((o) => [o.metadata.name, o])));
  }
  apply(kind: string, type: string, o: KubeObject): void {
    const byName = this.byKind.get(kind);
    if (!byName) return;
    // A Job deleted once it completed (ttlSecondsAfterFinished) did complete: its last state stays.
    if (type !== 'DELETED') byName.set(o.metadata.name, o);
    else if (!ranToCompletion(kind, o)) byName.delete(o.metadata.name);
  }
  get(w: WorkloadRef): KubeObject | undefined {
    return this.byKind.get(w.kind)?.get(w.name);
  }
  all(kind: string): KubeObject[] {
    return [...(this.byKind.get(kind)?.values() ?? [])];
  }
  related(): Related {
    return { pods: this.all('Pod') as Pod[], replicaSets: this.all('ReplicaSet') };
  }
}

/** The new revision's pods of a workload, the only ones judged. */
function podsOf(w: WorkloadRef, cache: Cache): Pod[] {
  const obj = cache.get(w);
  return obj ? workloadKind(w.kind).newPods(obj, cache.related()) : [];
}

function judge(w: WorkloadRef, cache: Cache, opts: VerdictOptions): Verdict {
  const obj = cache.get(w);
  if (!obj) return { state: 'progressing', message: 'not created yet', failures: [] };
  return workloadKind(w.kind).verdict(obj, cache.related(), opts);
}

const judgeAll = (targets: WorkloadRef[], cache: Cache, opts: VerdictOptions) => new Map(targets.map((t) => [workloadId(t), judge(t, cache, opts)] as const));

/** At the deadline, a workload still progressing fails with what its unready pods show. */
function judgeAtDeadline(w: WorkloadRef, cache: Cache, opts: VerdictOptions): Verdict {
  const v = judge(w, cache, opts);
  if (v.state !== 'progressing') return v;
  const unready = unreadyAtDeadline(podsOf(w, cache), opts.now);
  const failures = unready.length
    ? unready
    : [
        {
          reason: 'Timeout',
          message: `still ${v.message} at the deadline`,
          hint: 'raise timeout, or look at why the controller makes no progress',
        },
      ];
  return { state: 'failed', message: `timed out: ${v.message}`, failures };
}

type PodHealth = { pod: string; restarts: number; ready: boolean; exited: boolean };

/**
 * Restart counts, readiness and exits of the new pods: a soak fails when any gets worse. A pod
 * being deleted (an eviction, a drain, a scale-down) is leaving, not failing: it is not judged.
 */
// By uid: a StatefulSet's pod recreated after an eviction has its predecessor's name.
function health(w: WorkloadRef, cache: Cache): Map<string, PodHealth> {
  const out = new Map<string, PodHealth>();
  for (const p of podsOf(w, cache)) {
    if (p.metadata.deletionTimestamp) continue;
    const statuses = p.status?.containerStatuses ?? [];
    const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
    // Exited: ended, or waiting to start again after an end — not a first start still pending.
    const exited = statuses.some((c) => c.state?.terminated || (c.state?.waiting && c.lastState?.terminated));
    out.set(p.metadata.uid ?? p.metadata.name, { pod: p.metadata.name, restarts, ready: isPodReady(p), exited });
  }
  return out;
}

function soakFailures(w: WorkloadRef, before: Map<string, PodHealth>, cache: Cache): PodFailure[] {
  const out: PodFailure[] = [];
  for (const [uid, now] of health(w, cache)) {
    const was = before.get(uid);
    const pod = now.pod;
    if (!was) {
      before.set(uid, now);
      continue;
    }
    // A crash shows first as lost readiness with the container gone, then as a restart.
    if (now.restarts > was.restarts || (now.exited && !was.exited)) {
      const message =
        now.restarts > was.restarts ? `restarted ${now.restarts - was.restarts} time(s) after it was Ready` : 'its container exited after it was Ready';
      out.push({
        pod,
        reason: 'RestartedWhileSoaking',
        message,
        hint: 'the release crashes some time after start: read the log below',
        previousLogs: now.restarts > was.restarts,
      });
    } else if (was.ready && !now.ready) {
      out.push({
        pod,
        reason: 'ReadinessLostWhileSoaking',
        message: 'was Ready, then failed its readiness probe',
        hint: 'the release degrades after start: see the Unhealthy events below',
      });
    }
  }
  return out;
}

/** When the earliest new pod of a failed workload was created. */
function firstDoomedPod(targets: WorkloadRef[], verdicts: Map<string, Verdict>, cache: Cache): number | undefined {
  const created = targets
    .filter((t) => verdicts.get(workloadId(t))?.state === 'failed')
    .flatMap((t) => podsOf(t, cache).map((p) => Date.parse(p.metadata.creationTimestamp ?? '')))
    .filter((at) => Number.isFinite(at));
  return created.length ? Math.min(...created) : undefined;
}

/** The kinds to list and watch: the workloads' own and what their verdicts read. */
// Events carry the cluster autoscaler's word on pods that wait for a node.
const kindsFor = (targets: WorkloadRef[]) => [...new Set([...targets.flatMap((t) => [t.kind, ...workloadKind(t.kind).reads]), 'Event'])];

type Soak = { baseline: Map<string, Map<string, PodHealth>> };

/** One watch of a set of workloads, from the first list to the verdict. */
class RolloutWatch {
  private readonly cache = new Cache();
  private readonly kinds: string[];
  private readonly loaded = new Set<string>();
  private readonly lastLine = new Map<string, string>();
  private readonly streams: WatchStream[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private ticker?: NodeJS.Timeout;
  private finished = false;
  private soak?: Soak;
  private resolve: (o: Outcome) => void = () => undefined;

  constructor(
    private readonly kube: KubeClient,
    private readonly namespace: string,
    private readonly targets: WorkloadRef[],
    private readonly opts: WatchOptions,
  ) {
    this.kinds = kindsFor(targets);
  }

  run(): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      this.resolve = resolve;
      this.later(this.opts.timeoutMs, () => this.atDeadline());
      this.opts.signal?.addEventListener('abort', () => this.finish(false, judgeAll(this.targets, this.cache, this.verdictOptions()), 'cancelled'), {
        once: true,
      });
      if (this.opts.signal?.aborted) return this.finish(false, new Map(), 'cancelled');
      // Grace periods (unschedulable, pull errors) elapse without any event: look again each second.
      this.ticker = setInterval(() => this.evaluate(), 1000);
      for (const kind of this.kinds) void this.open(kind);
    });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private finish(ok: boolean, verdicts: Map<string, Verdict>, cause?: Outcome['cause']): void {
    if (this.finished) return;
    this.finished = true;
    this.timers.forEach((t) => clearTimeout(t));
    clearInterval(this.ticker);
    this.streams.forEach((s) => s.stop());
    this.resolve({ ok, verdicts, cause, firstDoomedPodAt: ok ? undefined : firstDoomedPod(this.targets, verdicts, this.cache) });
  }

  private verdictOptions(): VerdictOptions {
    return { ...DEFAULT_VERDICT_OPTIONS, ...this.opts.judgement, now: Date.now(), autoscaler: autoscalerWords(this.cache.all('Event') as KubeEvent[]) };
  }

  private atDeadline(): void {
    const opts = this.verdictOptions();
    this.finish(false, new Map(this.targets.map((t) => [workloadId(t), judgeAtDeadline(t, this.cache, opts)] as const)), 'timeout');
  }

  private logChanges(verdicts: Map<string, Verdict>): void {
    for (const [id, v] of verdicts) {
      const line = `${v.state === 'ready' ? 'ready' : v.state === 'failed' ? 'FAILED' : 'waiting'}: ${v.message}`;
      if (this.lastLine.get(id) === line) continue;
      this.lastLine.set(id, line);
      this.opts.log(`${id} ${line}`);
    }
  }

  private evaluate(): void {
    if (this.finished || this.loaded.size < this.kinds.length) return;
    this.opts.observe?.({ workload: (w) => this.cache.get(w), related: this.cache.related() });
    const verdicts = judgeAll(this.targets, this.cache, this.verdictOptions());
    this.logChanges(verdicts);
    if ([...verdicts.values()].some((v) => v.state === 'failed')) return this.finish(false, verdicts, this.soak ? 'soak' : 'failure');
    if (this.soak) return this.checkSoak(this.soak, verdicts);
    if (![...verdicts.values()].every((v) => v.state === 'ready')) return;
    if (!this.opts.soakMs) return this.finish(true, verdicts);
    this.startSoak(this.opts.soakMs);
  }

  private startSoak(soakMs: number): void {
    this.soak = { baseline: new Map(this.targets.map((t) => [workloadId(t), health(t, this.cache)] as const)) };
    this.opts.log(`all ready; soaking for ${Math.round(soakMs / 1000)}s to catch restarts and readiness flaps`);
    this.later(soakMs, () => this.finish(true, judgeAll(this.targets, this.cache, this.verdictOptions())));
  }

  private checkSoak(soak: Soak, verdicts: Map<string, Verdict>): void {
    for (const t of this.targets) {
      const failures = soakFailures(t, soak.baseline.get(workloadId(t))!, this.cache);
      if (!failures.length) continue;
      verdicts.set(workloadId(t), { state: 'failed', message: `${failures[0].pod}: ${failures[0].reason}`, failures });
      return this.finish(false, verdicts, 'soak');
    }
  }

  /**
   * Lists, then watches from that list's resourceVersion: the cache is complete before anything is
   * judged, and a reopened watch starts from a fresh list (no stale objects).
   */
  private async open(kind: string): Promise<void> {
    if (this.finished) return;
    const path = collectionPath(kind, this.namespace);
    let list: List<KubeObject>;
    try {
      list = await this.kube.raw<List<KubeObject>>(path);
    } catch (err) {
      this.opts.log(`listing ${kind}s failed: ${(err as Error).message.split('\n')[0]}; retrying`);
      this.later(1000, () => void this.open(kind));
      return;
    }
    if (this.finished) return;
    this.cache.load(kind, list.items);
    this.loaded.add(kind);
    const stream = this.kube.watch(`${path}?watch=1&resourceVersion=${list.metadata.resourceVersion}`, (e) => {
      // An ERROR event (e.g. 410 Gone) is followed by the server closing the stream: relisting handles it.
      if (e.type === 'ERROR' || e.type === 'BOOKMARK') return;
      this.cache.apply(kind, e.type, e.object);
      this.evaluate();
    });
    this.streams.push(stream);
    // The server ends watches after a while: list and watch again until the rollout is decided.
    void stream.done.then(() => {
      if (!this.finished) this.later(200, () => void this.open(kind));
    });
    this.evaluate();
  }
}

export const watchRollout = (kube: KubeClient, namespace: string, targets: WorkloadRef[], opts: WatchOptions): Promise<Outcome> =>
  new RolloutWatch(kube, namespace, targets, opts).run();
