// What ran before: the live revision of every workload about to change, recorded before anything
// is applied, so a rollback returns to exactly that revision and never guesses.
import type { KubeClient } from '../kube/client.js';
import type { ControllerRevision, KubeObject, List } from '../kube/objects.js';
import { collectionPath } from '../kube/resources.js';
import { liveRevision, workloadKind, workloadId, type WorkloadRef } from './workloads.js';

export type Snapshot = WorkloadRef & {
  /** False on a first install: there is nothing to return to. */
  existed: boolean;
  /** The revision number `kubectl rollout undo --to-revision` takes; undefined when it has none. */
  revision?: number;
  /** metadata.generation: it moves with every spec change, before any controller has acted. */
  generation?: number;
};

export const imagesOf = (o: KubeObject) =>
  [...(o.spec?.template?.spec?.initContainers ?? []), ...(o.spec?.template?.spec?.containers ?? [])].map(
    (c: { name: string; image: string }) => `${c.name}=${c.image}`,
  );

/** The live state of each workload: before the apply, and again when deciding a rollback. One list per kind. */
export async function snapshot(kube: KubeClient, namespace: string, workloads: WorkloadRef[]): Promise<Snapshot[]> {
  const kinds = [...new Set(workloads.map((w) => w.kind))];
  const live = new Map<string, KubeObject>();
  await Promise.all(
    kinds.map(async (kind) => {
      const list = await kube.raw<List<KubeObject>>(collectionPath(kind, namespace));
      for (const o of list.items) live.set(workloadId({ kind, name: o.metadata.name }), { ...o, kind });
    }),
  );
  const history = kinds.some((k) => workloadKind(k).controllerRevisions)
    ? (await kube.raw<List<ControllerRevision>>(collectionPath('ControllerRevision', namespace))).items
    : [];
  return workloads.map((w) => {
    const o = live.get(workloadId(w));
    return { kind: w.kind, name: w.name, existed: !!o, revision: o ? liveRevision(o, history) : undefined, generation: o?.metadata.generation };
  });
}
