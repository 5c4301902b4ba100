// Runs the pods the scheduler bound to a simulated node, setting their status field by field as
// a kubelet would: image pulls against the real registry, env references checked against the real
// ConfigMaps and Secrets, init containers, probes, restarts with back-off, and graceful deletion.
import { createHash } from 'node:crypto';
import { behaviourOf, Behaviour, logLines } from './behaviour.js';
import { EventRecorder } from './events.js';
import { isNotFound, Kube, Obj } from './kube.js';
import { Registry } from './registry.js';

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

  constructor(readonly spec: any, readonly init: boolean, initialWaiting: string) {
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
class Cancelled extends Error {}

export class PodSim {
  private readonly init: Container[];
  private readonly main: Container[];
  private readonly conditions = new Map<string, Condition>();
  private cancelled = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startTime = now();
  private sandboxReady = false;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private finished = false;

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
    this.run().catch((err) => {
      if (!(err instanceof Cancelled)) this.log(`pod ${this.key}: ${err.stack ?? err}`);
    });
  }

  stop(): void {
    this.cancelled = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
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
    try {
      await this.kube.delete(`/api/v1/namespaces/${namespace}/pods/${name}`, { gracePeriodSeconds: 0, preconditions: { uid } });
    } catch (err) {
      if (!isNotFound(err)) this.log(`delete ${this.key}: ${(err as Error).message}`);
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
      const b = await this.prepare(c);
      this.startContainer(c, b);
      const runsOnce = this.pod.spec.restartPolicy === 'Never' || this.pod.spec.restartPolicy === 'OnFailure';
      const readiness = this.watchReadiness(c, b);
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
      const info = await this.registry.inspect(c.spec.image);
      if (info.found) {
        c.imageID = info.imageID;
        const problem = await configProblem(this.kube, this.pod.metadata.namespace!, c.spec);
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
    this.events.emit(this.pod, this.node, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.pod.metadata.uid})`, c.fieldPath);
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
    await this.sleep(Math.max(delay, 200));
    if (!('running' in c.state)) return;
    if (!b.neverReady) {
      c.ready = true;
      this.flush();
      return;
    }
    const detail = probe?.httpGet ? 'HTTP probe failed with statuscode: 503' : probe?.exec ? 'command exited with 1' : 'dial tcp: connection refused';
    while ('running' in c.state) {
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

  /** Coalesces status writes: at most one in flight, the newest state always written last. */
  private flush(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing.then(async () => {
      this.dirty = false;
      if (this.cancelled && !this.finished) return;
      try {
        await this.writeStatus();
      } catch (err) {
        if (isNotFound(err)) this.stop();
        else this.log(`status ${this.key}: ${(err as Error).message}`);
      }
    });
  }

  private async writeStatus(): Promise<void> {
    const { namespace, name } = this.pod.metadata;
    await this.kube.mergePatch(`/api/v1/namespaces/${namespace}/pods/${name}/status`, { status: this.status() });
  }

  private sleep(ms: number): Promise<void> {
    if (this.cancelled) return Promise.reject(new Cancelled());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (this.cancelled) reject(new Cancelled());
        else resolve();
      }, ms / this.speed);
      this.timers.add(t);
    });
  }

  private sleepUncancellable(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms / this.speed));
  }
}

/** The kubelet's CreateContainerConfigError check: every non-optional env reference must resolve. */
export async function configProblem(kube: Kube, namespace: string, spec: any): Promise<string | undefined> {
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
