// Runs the pods the scheduler bound to a simulated node, setting their status field by field as
// a kubelet would: image pulls against the real registry, env references checked against the real
// ConfigMaps and Secrets, init containers, probes, restarts with back-off, and graceful deletion.
import { createHash } from 'node:crypto';
import { behaviourOf, Behaviour, forStart, logLines } from './behaviour.js';
import { EventRecorder } from './events.js';
import { ApiError, isNotFound, Kube, Obj } from './kube.js';
import { ImageInfo, Registry } from './registry.js';

type State =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID: string } };

type Condition = { type: string; status: 'True' | 'False'; reason?: string; message?: string; lastTransitionTime: string };

class Container {
  state: State;
  lastState: State | Record<string, never> = {};
  restartCount = 0;
  ready = false;
  started = false;
  imageID = '';
  containerID = '';
  logs: string[] = [];
  previousLogs: string[] = [];
  backoffSec = 10;

  constructor(
    readonly spec: any,
    readonly init: boolean,
    initialWaiting: string,
  ) {
    this.state = { waiting: { reason: initialWaiting } };
  }

  get name(): string {
    return this.spec.name;
  }
  get fieldPath(): string {
    return `spec.${this.init ? 'initContainers' : 'containers'}{${this.spec.name}}`;
  }
  get completed(): boolean {
    return 'terminated' in this.state && this.state.terminated.exitCode === 0;
  }

  toStatus() {
    return {
      name: this.name,
      image: this.spec.image,
      imageID: this.imageID,
      ...(this.containerID ? { containerID: this.containerID } : {}),
      state: this.state,
      lastState: this.lastState,
      ready: this.ready,
      restartCount: this.restartCount,
      started: this.started,
    };
  }
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
/** How a pod's tasks end when the pod goes away: normal, never worth a log line. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

/** What the kubelet's status manager compares: readiness, phase and each container's state. */
function digest(status: any): string {
  const conds = ((status?.conditions ?? []) as any[])
    .filter((c) => ['Initialized', 'ContainersReady', 'Ready', 'PodReadyToStartContainers'].includes(c.type))
    .map((c) => `${c.type}=${c.status}`)
    .sort();
  const containers = [...((status?.initContainerStatuses ?? []) as any[]), ...((status?.containerStatuses ?? []) as any[])]
    .map((c) => `${c.name}:${c.ready}:${c.restartCount}:${Object.keys(c.state ?? {})[0]}`)
    .sort();
  return JSON.stringify([status?.phase, conds, containers]);
}

export class PodSim {
  private readonly init: Container[];
  private readonly main: Container[];
  private readonly conditions = new Map<string, Condition>();
  private cancelled = false;
  /** Pending sleeps, each with the way to end it with Cancelled. */
  private readonly sleeping = new Map<NodeJS.Timeout, () => void>();
  private readonly startTime = now();
  private sandboxReady = false;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private finished = false;
  private failedWrites = 0;
  private retry?: NodeJS.Timeout;

  constructor(
    public pod: Obj,
    private readonly node: string,
    private readonly ip: string,
    private readonly kube: Kube,
    private readonly registry: Registry,
    private readonly events: EventRecorder,
    private readonly speed: number,
    private readonly log: (msg: string) => void,
  ) {
    this.init = (pod.spec.initContainers ?? []).map((c: any) => new Container(c, true, 'PodInitializing'));
    this.main = (pod.spec.containers ?? []).map((c: any) => new Container(c, false, this.init.length ? 'PodInitializing' : 'ContainerCreating'));
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  container(name: string): Container | undefined {
    return [...this.init, ...this.main].find((c) => c.name === name);
  }

  start(): void {
    this.run().catch(this.settle('run'));
  }

  /** The end of every task of this pod: Cancelled is how a deleted pod's tasks stop; anything else is a bug, logged with the pod's name. */
  settle(what: string): (err: unknown) => void {
    return (err) => {
      if (err instanceof Cancelled) return;
      this.log(`pod ${this.key}: ${what} failed: ${(err as Error)?.stack ?? err}`);
    };
  }

  /** Ends every task: pending sleeps reject with Cancelled, no status is written any more. */
  stop(): void {
    this.cancelled = true;
    const pending = [...this.sleeping];
    this.sleeping.clear();
    for (const [t, cancel] of pending) {
      clearTimeout(t);
      cancel();
    }
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
  }

  /** Writes the whole status again (after the API server came back, say). */
  resync(): void {
    if (!this.cancelled && !this.finished && this.sandboxReady) this.flush();
  }

  /**
   * As the kubelet's status manager does: when the API holds another status than this node knows
   * (the node lifecycle controller marks pods not Ready while their node is unreachable, or a
   * write was lost), write this node's again. `this.pod` is the API's latest copy.
   */
  reconcile(): void {
    if (this.cancelled || this.finished || this.dirty || !this.sandboxReady) return;
    if (digest(this.pod.status) !== digest(this.status())) this.flush();
  }

  /** Graceful deletion: stop the containers, report them terminated, then remove the pod for good. */
  async terminate(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.stop();
    for (const c of this.main) {
      if ('running' in c.state) {
        this.events.emit(this.pod, this.node, 'Normal', 'Killing', `Stopping container ${c.name}`, c.fieldPath);
        c.state = { terminated: { exitCode: 0, reason: 'Completed', startedAt: c.state.running.startedAt, finishedAt: now(), containerID: c.containerID } };
      }
      c.ready = false;
      c.started = false;
    }
    await this.sleepUncancellable(300);
    const { namespace, name, uid } = this.pod.metadata;
    await this.writeStatus().catch((err) => {
      if (!isNotFound(err)) this.log(`final status ${this.key}: ${(err as Error).message}`);
    });
    // Retried while the API server is away: a pod left Terminating would hold its namespace.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.kube.delete(`/api/v1/namespaces/${namespace}/pods/${name}`, { gracePeriodSeconds: 0, preconditions: { uid } });
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        const transient = !(err instanceof ApiError) || err.status >= 500 || err.status === 429;
        if (!transient || attempt >= 60) return this.log(`delete ${this.key}: ${(err as Error).message}`);
        if (attempt === 1) this.log(`delete ${this.key}: ${(err as Error).message} (retrying)`);
        await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 5000)));
      }
    }
  }

  // ---- the pod's life ----

  private async run(): Promise<void> {
    await this.sleep(150);
    this.sandboxReady = true;
    this.flush();
    for (const c of this.init) if (!(await this.runInit(c))) return;
    await Promise.all(this.main.map((c) => this.runMain(c)));
  }

  /** Runs one init container to completion; false when the pod can never get past it. */
  private async runInit(c: Container): Promise<boolean> {
    for (;;) {
      const b = await this.prepare(c);
      this.startContainer(c, b);
      await this.sleep(600);
      if (!b.initFails) {
        this.exit(c, 0, 'Completed');
        c.ready = true;
        this.flush();
        return true;
      }
      this.exit(c, 1, 'Error');
      this.flush();
      if (this.pod.spec.restartPolicy === 'Never') return false;
      await this.crashLoop(c);
    }
  }

  private async runMain(c: Container): Promise<void> {
    for (;;) {
      const b = forStart(await this.prepare(c), c.restartCount);
      this.startContainer(c, b);
      const runsOnce = this.pod.spec.restartPolicy === 'Never' || this.pod.spec.restartPolicy === 'OnFailure';
      // The probe runs beside the process; its end (Cancelled included) is settled here, never left floating.
      const readiness = this.watchReadiness(c, b).catch(this.settle(`readiness of ${c.name}`));
      if (!b.exit) {
        if (!runsOnce) return readiness;
        await this.sleep(1000);
        this.exit(c, 0, 'Completed');
        this.flush();
        return;
      }
      await this.sleep(b.exitAfter * 1000);
      this.exit(c, b.exit.code, b.exit.reason);
      this.flush();
      if (this.pod.spec.restartPolicy === 'Never') return;
      await this.crashLoop(c);
    }
  }

  /** Pulls the image and resolves env references, retrying with back-off as a kubelet does. */
  private async prepare(c: Container): Promise<Behaviour> {
    let pullBackoff = 10;
    for (;;) {
      let info: ImageInfo;
      try {
        info = await this.registry.inspect(c.spec.image);
      } catch (err) {
        // The registry itself failing is a pull error too, retried with the same back-off.
        info = {
          found: false,
          ref: c.spec.image,
          message: `rpc error: code = Unknown desc = failed to pull and unpack image "${c.spec.image}": ${(err as Error).message}`,
        };
      }
      this.checkCancelled();
      if (info.found) {
        c.imageID = info.imageID;
        let problem: string | undefined;
        try {
          problem = await configProblem(this.kube, this.pod.metadata.namespace!, c.spec);
        } catch (err) {
          // The API server is away: try again, as the kubelet's config cache would.
          this.log(`pod ${this.key}: reading env references: ${(err as Error).message}`);
          await this.sleep(2000);
          continue;
        }
        this.checkCancelled();
        if (!problem) return behaviourOf(info.labels);
        c.state = { waiting: { reason: 'CreateContainerConfigError', message: problem } };
        this.events.emit(this.pod, this.node, 'Warning', 'Failed', `Error: ${problem}`, c.fieldPath);
        this.flush();
        await this.sleep(2000);
        continue;
      }
      this.events.emit(this.pod, this.node, 'Normal', 'Pulling', `Pulling image "${c.spec.image}"`, c.fieldPath);
      const message = `Failed to pull image "${c.spec.image}": ${info.message}`;
      this.events.emit(this.pod, this.node, 'Warning', 'Failed', message, c.fieldPath);
      this.events.emit(this.pod, this.node, 'Warning', 'Failed', 'Error: ErrImagePull', c.fieldPath);
      c.state = { waiting: { reason: 'ErrImagePull', message: info.message } };
      this.flush();
      await this.sleep(1000);
      c.state = { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.spec.image}": ErrImagePull: ${info.message}` } };
      this.events.emit(this.pod, this.node, 'Normal', 'BackOff', `Back-off pulling image "${c.spec.image}"`, c.fieldPath);
      this.events.emit(this.pod, this.node, 'Warning', 'Failed', 'Error: ImagePullBackOff', c.fieldPath);
      this.flush();
      await this.sleep(pullBackoff * 1000);
      pullBackoff = Math.min(pullBackoff * 2, 300);
    }
  }

  private startContainer(c: Container, b: Behaviour): void {
    if (c.restartCount === 0 && !c.containerID) {
      this.events.emit(this.pod, this.node, 'Normal', 'Pulled', `Container image "${c.spec.image}" already present on machine`, c.fieldPath);
    }
    c.containerID = `containerd://${createHash('sha256').update(`${this.pod.metadata.uid}/${c.name}/${c.restartCount}`).digest('hex')}`;
    this.events.emit(this.pod, this.node, 'Normal', 'Created', `Created container: ${c.name}`, c.fieldPath);
    this.events.emit(this.pod, this.node, 'Normal', 'Started', `Started container ${c.name}`, c.fieldPath);
    c.state = { running: { startedAt: now() } };
    c.started = true;
    c.ready = false;
    c.logs = logLines(c.name, c.spec.image, b, c.init);
    // A container without a readiness probe is ready as soon as it runs.
    if (!c.init && !c.spec.readinessProbe && !b.neverReady) c.ready = true;
    this.flush();
  }

  private exit(c: Container, exitCode: number, reason: string): void {
    const startedAt = 'running' in c.state ? c.state.running.startedAt : now();
    c.state = { terminated: { exitCode, reason, startedAt, finishedAt: now(), containerID: c.containerID } };
    c.ready = false;
    c.started = false;
  }

  /** After a failed run: restartCount up, CrashLoopBackOff for the back-off period, previous logs kept. */
  private async crashLoop(c: Container): Promise<void> {
    await this.sleep(300);
    c.lastState = c.state;
    c.previousLogs = c.logs;
    c.logs = [];
    c.restartCount += 1;
    const message = `back-off ${c.backoffSec}s restarting failed container=${c.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.pod.metadata.uid})`;
    c.state = { waiting: { reason: 'CrashLoopBackOff', message } };
    this.events.emit(
      this.pod,
      this.node,
      'Warning',
      'BackOff',
      `Back-off restarting failed container ${c.name} in pod ${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.pod.metadata.uid})`,
      c.fieldPath,
    );
    this.flush();
    await this.sleep(c.backoffSec * 1000);
    c.backoffSec = Math.min(c.backoffSec * 2, 300);
  }

  /** Readiness after initialDelaySeconds; a probe that never passes reports Unhealthy every period. */
  private async watchReadiness(c: Container, b: Behaviour): Promise<void> {
    const probe = c.spec.readinessProbe;
    if (!probe && !b.neverReady) return;
    const delay = (probe?.initialDelaySeconds ?? 0) * 1000;
    const period = (probe?.periodSeconds ?? 10) * 1000;
    // This run of the container only: a probe of an earlier run must not mark a restarted one ready.
    const run = c.containerID;
    const running = () => 'running' in c.state && c.containerID === run;
    await this.sleep(Math.max(delay, 200));
    if (!running()) return;
    if (!b.neverReady) {
      c.ready = true;
      this.flush();
      return;
    }
    const detail = probe?.httpGet ? 'HTTP probe failed with statuscode: 503' : probe?.exec ? 'command exited with 1' : 'dial tcp: connection refused';
    while (running()) {
      this.events.emit(this.pod, this.node, 'Warning', 'Unhealthy', `Readiness probe failed: ${detail}`, c.fieldPath);
      await this.sleep(period);
    }
  }

  // ---- status ----

  private setCondition(type: string, ok: boolean, reason?: string, message?: string): void {
    const status = ok ? 'True' : 'False';
    const prev = this.conditions.get(type);
    const lastTransitionTime = prev && prev.status === status ? prev.lastTransitionTime : now();
    this.conditions.set(type, { type, status, ...(reason && !ok ? { reason } : {}), ...(message && !ok ? { message } : {}), lastTransitionTime });
  }

  private phase(): string {
    const once = this.pod.spec.restartPolicy === 'Never' || this.pod.spec.restartPolicy === 'OnFailure';
    const ended = (c: Container) => 'terminated' in c.state;
    if (once && this.main.length && this.main.every(ended)) {
      return this.main.every((c) => c.completed) ? 'Succeeded' : 'Failed';
    }
    if (once && this.pod.spec.restartPolicy === 'Never' && this.init.some((c) => ended(c) && !c.completed)) return 'Failed';
    const initDone = this.init.every((c) => c.completed);
    const anyStarted = this.main.some((c) => 'running' in c.state || c.restartCount > 0 || ended(c));
    return initDone && anyStarted ? 'Running' : 'Pending';
  }

  status() {
    const initDone = this.init.every((c) => c.completed);
    const pendingInit = this.init.filter((c) => !c.completed).map((c) => c.name);
    const unready = this.main.filter((c) => !c.ready).map((c) => c.name);
    this.setCondition('PodReadyToStartContainers', this.sandboxReady);
    this.setCondition('Initialized', initDone, 'ContainersNotInitialized', `containers with incomplete status: [${pendingInit.join(' ')}]`);
    this.setCondition('Ready', initDone && unready.length === 0, 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`);
    this.setCondition('ContainersReady', initDone && unready.length === 0, 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`);
    const scheduled = (this.pod.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled');
    const podIP = this.sandboxReady ? this.ip : undefined;
    return {
      phase: this.phase(),
      conditions: [...this.conditions.values(), ...(scheduled ? [scheduled] : [])],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: podIP ?? null,
      podIPs: podIP ? [{ ip: podIP }] : null,
      startTime: this.startTime,
      initContainerStatuses: this.init.length ? this.init.map((c) => c.toStatus()) : null,
      containerStatuses: this.main.map((c) => c.toStatus()),
      qosClass: this.pod.status?.qosClass,
    };
  }

  /**
   * Coalesces status writes: at most one in flight, the newest state always written last. A write
   * that fails (the API server restarting) is tried again until it lands, as the kubelet's is.
   */
  private flush(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing
      .then(async () => {
        this.dirty = false;
        if (this.cancelled && !this.finished) return;
        try {
          await this.writeStatus();
          if (this.failedWrites > 0) this.log(`status ${this.key}: written again after ${this.failedWrites} failed attempts`);
          this.failedWrites = 0;
        } catch (err) {
          if (isNotFound(err)) return this.stop();
          if (this.failedWrites++ === 0) this.log(`status ${this.key}: ${(err as Error).message} (retrying)`);
          this.retryLater();
        }
      })
      .catch(this.settle('status write'));
  }

  private retryLater(): void {
    if (this.retry || this.cancelled) return;
    const wait = Math.min(250 * 2 ** Math.min(this.failedWrites, 5), 5000);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.cancelled) this.flush();
    }, wait);
  }

  private async writeStatus(): Promise<void> {
    const { namespace, name } = this.pod.metadata;
    await this.kube.mergePatch(`/api/v1/namespaces/${namespace}/pods/${name}/status`, { status: this.status() });
  }

  private sleep(ms: number): Promise<void> {
    if (this.cancelled) return Promise.reject(new Cancelled());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.sleeping.delete(t);
        resolve();
      }, ms / this.speed);
      this.sleeping.set(t, () => reject(new Cancelled()));
    });
  }

  /** After an await on the network: a pod deleted meanwhile starts nothing more. */
  private checkCancelled(): void {
    if (this.cancelled) throw new Cancelled();
  }

  private sleepUncancellable(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms / this.speed));
  }
}

/** The kubelet's CreateContainerConfigError check: every non-optional env reference must resolve. */
async function configProblem(kube: Kube, namespace: string, spec: any): Promise<string | undefined> {
  const cache = new Map<string, Obj | null>();
  const read = async (kind: 'configmaps' | 'secrets', name: string) => {
    const key = `${kind}/${name}`;
    if (!cache.has(key)) {
      try {
        cache.set(key, await kube.get(`/api/v1/namespaces/${namespace}/${key}`));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        cache.set(key, null);
      }
    }
    return cache.get(key) ?? null;
  };
  const noun = { configmaps: 'configmap', secrets: 'secret' } as const;
  const title = { configmaps: 'ConfigMap', secrets: 'Secret' } as const;
  const check = async (kind: 'configmaps' | 'secrets', ref: any, key?: string) => {
    if (!ref || ref.optional) return undefined;
    const obj = await read(kind, ref.name);
    if (!obj) return `${noun[kind]} "${ref.name}" not found`;
    if (key === undefined) return undefined;
    const data = { ...(obj.data ?? {}), ...(obj.binaryData ?? {}), ...(obj.stringData ?? {}) };
    return key in data ? undefined : `couldn't find key ${key} in ${title[kind]} ${namespace}/${ref.name}`;
  };
  for (const from of spec.envFrom ?? []) {
    const problem = (await check('configmaps', from.configMapRef)) ?? (await check('secrets', from.secretRef));
    if (problem) return problem;
  }
  for (const env of spec.env ?? []) {
    const cm = env.valueFrom?.configMapKeyRef;
    const sec = env.valueFrom?.secretKeyRef;
    const problem = (cm && (await check('configmaps', cm, cm.key))) || (sec && (await check('secrets', sec, sec.key)));
    if (problem) return problem;
  }
  return undefined;
}
