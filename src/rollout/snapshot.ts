// What ran before: the live revision of every workload about to change, recorded before anything
// is applied, so a rollback returns to exactly that revision and never guesses.
import type { KubeClient } from '../kube/client.js';
import type { ControllerRevision, KubeObject, List, ReplicaSet } from '../kube/objects.js';
import { collectionPath } from '../kube/resources.js';
import { liveRevision, workloadKind, workloadId, type History, type WorkloadRef } from './workloads.js';

export type Snapshot = WorkloadRef & {
  /** False on a first install: there is nothing to return to. */
  existed: boolean;
  /** The revision number `kubectl rollout undo --to-revision` takes; undefined when it has none. */
  revision?: number;
  /** The pod template's identity (pod-template-hash, ControllerRevision name): it survives renumbering. */
  template?: string;
  /** metadata.generation: it moves with every spec change, before any controller has acted. */
  generation?: number;
};

export const imagesOf = (o: KubeObject) =>
  [...(o.spec?.template?.spec?.initContainers ?? []), ...(o.spec?.template?.spec?.containers ?? [])].map(
    (c: { name: string; image: string }) => `${c.name}=${c.image}`,
  );

const list = async <T>(kube: KubeClient, kind: string, namespace: string) => (await kube.raw<List<T>>(collectionPath(kind, namespace))).items;

/** The workloads' revision history: one list per kind that holds it. */
export async function historyOf(kube: KubeClient, namespace: string, kinds: string[]): Promise<History> {
  const [replicaSets, controllerRevisions] = await Promise.all([
    kinds.some((k) => workloadKind(k).reads.includes('ReplicaSet')) ? list<ReplicaSet>(kube, 'ReplicaSet', namespace) : [],
    kinds.some((k) => workloadKind(k).controllerRevisions) ? list<ControllerRevision>(kube, 'ControllerRevision', namespace) : [],
  ]);
  return { replicaSets, controllerRevisions };
}

/** The live state of each workload: before the apply, and again when deciding a rollback. One list per kind. */
export async function snapshot(kube: KubeClient, namespace: string, workloads: WorkloadRef[]): Promise<Snapshot[]> {
  const kinds = [...new Set(workloads.map((w) => w.kind))];
  const live = new Map<string, KubeObject>();
  const [history] = await Promise.all([
    historyOf(kube, namespace, kinds),
    ...kinds.map(async (kind) => {
      for (const o of await list<KubeObject>(kube, kind, namespace)) live.set(workloadId({ kind, name: o.metadata.name }), { ...o, kind });
    }),
  ]);
  return workloads.map((w) => {
    const o = live.get(workloadId(w));
    if (!o) return { kind: w.kind, name: w.name, existed: false };
    const revision = liveRevision(o, history.controllerRevisions);
    return { kind: w.kind, name: w.name, existed: true, revision, template: workloadKind(w.kind).template(o, history), generation: o.metadata.generation };
  });
}

/** The live metadata.generation of each workload (undefined when absent): one list per kind. */
export async function liveGenerations(kube: KubeClient, namespace: string, workloads: WorkloadRef[]): Promise<Map<string, number | undefined>> {
  const kinds = [...new Set(workloads.map((w) => w.kind))];
  const lists = await Promise.all(kinds.map(async (kind) => ({ kind, items: await list<KubeObject>(kube, kind, namespace) })));
  const live = new Map(lists.flatMap(({ kind, items }) => items.map((o) => [workloadId({ kind, name: o.metadata.name }), o.metadata.generation] as const)));
  return new Map(workloads.map((w) => [workloadId(w), live.get(workloadId(w))]));
}

/** Whether an apply moved a workload's spec (pure): a new workload always counts, an unchanged generation never. */
export const specMoved = (before: Snapshot | undefined, generation: number | undefined) =>
  !before?.existed || generation === undefined || generation !== before.generation;
