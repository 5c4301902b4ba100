// A scripted stand-in for the cluster, for unit tests of the orchestration: it holds objects by
// kind (served by raw lists and watches, as the API server serves them), answers kubectl commands
// from scripts the test registers, and records every call. Offline commands (kustomize and
// `annotate --local`, the manifest parsing) run the real kubectl.
import { KubectlError, type ExecOptions, type ExecResult, type KubeClient, type WatchStream } from '../../src/kube/client.js';
import { Kubectl } from '../../src/kube/kubectl.js';
import type { KubeObject, Resource, WatchEvent } from '../../src/kube/objects.js';

type Reply = ExecResult | ((args: string[], input?: string) => ExecResult | Promise<ExecResult>);
type Script = { match: RegExp; reply: Reply; times: number };
type Watcher = { kind: string; onEvent: (e: WatchEvent) => void; end: (code: number) => void };

const KIND_OF_PLURAL: Record<string, string> = {
  pods: 'Pod',
  replicasets: 'ReplicaSet',
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
  controllerrevisions: 'ControllerRevision',
  horizontalpodautoscalers: 'HorizontalPodAutoscaler',
  events: 'Event',
  jobs: 'Job',
};

export const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
export const fails = (stderr: string, code = 1): ExecResult => ({ code, stdout: '', stderr });

const copy = <T>(o: T): T => structuredClone(o);

export class ScriptedKube implements KubeClient {
  readonly calls: { args: string[]; input?: string }[] = [];
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly scripts: Script[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly listFailures = new Map<string, number>();
  private resourceVersion = 100;
  private readonly offline = new Kubectl('kubectl');

  constructor(readonly namespace: string) {
    // What a healthy cluster and an allowed identity answer; tests register more specific scripts first.
    this.on(/^config view --minify /, ok('local'));
    this.on(/^get --raw \/version$/, ok('{"gitVersion":"v1.34.4"}'));
    // The deploy lock and the release record, kept like any other object.
    this.on(/^get (lease|configmap) (\S+) -n \S+ -o json --ignore-not-found$/, (args) => {
      const o = this.get(args[1] === 'lease' ? 'Lease' : 'ConfigMap', args[2]);
      return ok(o ? JSON.stringify(o) : '');
    });
    this.on(/^create -f - -o json$/, (_args, input) => {
      const o = JSON.parse(input!) as KubeObject;
      if (this.get(o.kind, o.metadata.name)) return fails(`Error from server (AlreadyExists): ${o.kind} "${o.metadata.name}" already exists`);
      this.put(o.kind, o);
      return ok(JSON.stringify(this.get(o.kind, o.metadata.name)));
    });
    this.on(/^replace -f - -o json$/, (_args, input) => {
      const o = JSON.parse(input!) as KubeObject;
      const live = this.get(o.kind, o.metadata.name);
      if (!live) return fails(`Error from server (NotFound): ${o.kind} "${o.metadata.name}" not found`);
      if (o.metadata.resourceVersion !== live.metadata.resourceVersion)
        return fails(`Error from server (Conflict): Operation cannot be fulfilled: the object has been modified`);
      this.put(o.kind, o);
      return ok(JSON.stringify(this.get(o.kind, o.metadata.name)));
    });
    this.on(/^apply --server-side --field-manager=\S+-record /, (_args, input) => {
      const o = JSON.parse(input!) as KubeObject;
      this.put(o.kind, o);
      return ok(`configmap/${o.metadata.name} serverside-applied`);
    });
    // Read back after an undo, to hand its fields over: the stored object, without managed fields.
    this.on(/^get (\w+)\/(\S+) -n \S+( --show-managed-fields)? -o json$/, (args) => {
      const [kind, name] = args[1].split('/');
      const o = this.get(kind.charAt(0).toUpperCase() + kind.slice(1).replace('set', 'Set'), name);
      return o ? ok(JSON.stringify(o)) : fails(`Error from server (NotFound): ${kind} "${name}" not found`);
    });
    // The release's objects read before the first apply and at a rollback: those stored, as one List.
    this.on(/^get -f - -n \S+ -o json --ignore-not-found/, (_args, input) => {
      const wanted = (JSON.parse(input!) as { items: KubeObject[] }).items;
      const items = wanted.map((w) => this.get(w.kind, w.metadata.name)).filter((o) => o !== undefined);
      return ok(items.length ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) : '');
    });
    // A rollback deletes what a failed release added (Kind.group/name).
    this.on(/^delete [A-Z]\w*(\.\S+)?\/\S+ -n /, (args) => {
      const [type, name] = args[1].split('/');
      this.remove(type.split('.')[0], name);
      return ok(`${type.toLowerCase()} "${name}" deleted\n`);
    });
    this.on(/^auth can-i /, ok('yes\n'));
    // The permission check's SelfSubjectRulesReview: an identity allowed everything in the namespace.
    this.on(/^create --validate=false -f - -o json$/, (_args, input) =>
      ok(JSON.stringify({ ...JSON.parse(input!), status: { resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] } })),
    );
    this.on(/^get namespace \S+ --ignore-not-found -o name$/, (args) => ok(`namespace/${args[2]}\n`));
  }

  /** Answers commands matching `match` (against the space-joined arguments); the first registered match wins. */
  on(match: RegExp, reply: Reply, times = Infinity): this {
    this.scripts.unshift({ match, reply, times });
    return this;
  }

  /** The next `n` lists of a kind fail as a transient API error would. */
  failLists(kind: string, n: number): this {
    this.listFailures.set(kind, n);
    return this;
  }

  /** Stores an object (a copy) and tells the watchers of its kind. */
  put(kind: string, o: Resource): void {
    const byName = this.byKind(kind);
    const type = byName.has(o.metadata.name) ? 'MODIFIED' : 'ADDED';
    const stored = copy({ ...o, metadata: { ...o.metadata, resourceVersion: String(++this.resourceVersion) } }) as KubeObject;
    byName.set(o.metadata.name, stored);
    this.notify(kind, { type, object: copy(stored) });
  }

  putAll(kind: string, objects: KubeObject[]): void {
    for (const o of objects) this.put(kind, o);
  }

  /** Replaces every object of a kind: those not given are deleted. */
  replace(kind: string, objects: KubeObject[]): void {
    const names = new Set(objects.map((o) => o.metadata.name));
    for (const name of [...this.byKind(kind).keys()]) if (!names.has(name)) this.remove(kind, name);
    this.putAll(kind, objects);
  }

  remove(kind: string, name: string): void {
    const o = this.byKind(kind).get(name);
    if (!o) return;
    this.byKind(kind).delete(name);
    this.notify(kind, { type: 'DELETED', object: copy(o) });
  }

  /** The stored pods not owned by an object of that kind. */
  podsNotOwnedBy(ownerKind: string): KubeObject[] {
    return [...this.byKind('Pod').values()].filter((p) => !(p.metadata.ownerReferences ?? []).some((r) => r.kind === ownerKind));
  }

  get(kind: string, name: string): KubeObject | undefined {
    return this.store.get(kind)?.get(name);
  }

  /** Ends every open watch of a kind (all kinds without one), as the server does after a while. */
  endWatches(kind?: string): void {
    for (const w of [...this.watchers]) if (!kind || w.kind === kind) w.end(0);
  }

  /** Sends an ERROR event (410 Gone) on the watches of a kind, then ends them. */
  expireWatches(kind: string): void {
    for (const w of [...this.watchers]) {
      if (w.kind !== kind) continue;
      w.onEvent({ type: 'ERROR', object: { apiVersion: 'v1', kind: 'Status', metadata: { name: '' }, code: 410, reason: 'Expired' } });
      w.end(0);
    }
  }

  openWatches(kind?: string): number {
    return [...this.watchers].filter((w) => !kind || w.kind === kind).length;
  }

  /** The calls whose space-joined arguments match. */
  called(match: RegExp): string[] {
    return this.calls.map((c) => c.args.join(' ')).filter((line) => match.test(line));
  }

  // ---- KubeClient ----

  async run(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.calls.push({ args, input: opts.input });
    if (args[0] === 'kustomize' || (args[0] === 'annotate' && args.includes('--local'))) return this.offline.run(args, opts);
    const line = args.join(' ');
    const script = this.scripts.find((s) => s.times > 0 && s.match.test(line));
    if (!script) throw new Error(`unscripted kubectl ${line}`);
    script.times--;
    const result = typeof script.reply === 'function' ? await script.reply(args, opts.input) : script.reply;
    if (result.code !== 0 && !opts.allowFailure) throw new KubectlError(args, result);
    return result;
  }

  async json<T>(args: string[], opts: ExecOptions = {}): Promise<T> {
    return JSON.parse((await this.run([...args, '-o', 'json'], opts)).stdout) as T;
  }

  async raw<T>(apiPath: string): Promise<T> {
    this.calls.push({ args: ['get', '--raw', apiPath] });
    if (apiPath === '/version') return { gitVersion: 'v1.34.4' } as T;
    const kind = this.kindOf(apiPath);
    const failures = this.listFailures.get(kind) ?? 0;
    if (failures > 0) {
      this.listFailures.set(kind, failures - 1);
      throw new KubectlError(['get', '--raw', apiPath], fails('Unable to connect to the server: net/http: TLS handshake timeout'));
    }
    await Promise.resolve();
    return { metadata: { resourceVersion: String(this.resourceVersion) }, items: [...this.byKind(kind).values()].map(copy) } as T;
  }

  watch(apiPath: string, onEvent: (e: WatchEvent) => void): WatchStream {
    this.calls.push({ args: ['get', '--raw', apiPath] });
    let end!: (code: number) => void;
    const done = new Promise<number>((resolve) => (end = resolve));
    const watcher: Watcher = {
      kind: this.kindOf(apiPath),
      onEvent,
      end: (code) => {
        this.watchers.delete(watcher);
        end(code);
      },
    };
    this.watchers.add(watcher);
    return { stop: () => watcher.end(143), done };
  }

  // ---- internals ----

  private byKind(kind: string): Map<string, KubeObject> {
    let m = this.store.get(kind);
    if (!m) this.store.set(kind, (m = new Map()));
    return m;
  }

  private kindOf(apiPath: string): string {
    const plural = apiPath.split('?')[0].split('/').pop() ?? '';
    const kind = KIND_OF_PLURAL[plural];
    if (!kind) throw new Error(`no kind for ${apiPath}`);
    if (!apiPath.includes(`/namespaces/${this.namespace}/`)) throw new Error(`${apiPath} is outside namespace ${this.namespace}`);
    return kind;
  }

  private notify(kind: string, e: WatchEvent): void {
    // Events arrive asynchronously, as they do over a stream.
    for (const w of this.watchers) if (w.kind === kind) queueMicrotask(() => w.onEvent(copy(e)));
  }
}
