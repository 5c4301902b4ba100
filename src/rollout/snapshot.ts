// What ran before: the live revision of every workload about to change, recorded before anything
// is applied, so a rollback returns to exactly that revision and never guesses.
import type { Kubectl } from '../kube/kubectl.js';
import { ownedBy, type KubeObject } from '../manifests/objects.js';

export type Snapshot = {
  kind: string;
  name: string;
  /** False on a first install: there is nothing to return to. */
  existed: boolean;
  /** The revision number `kubectl rollout undo --to-revision` takes; undefined when it has none. */
  revision?: number;
  /** metadata.generation: it moves with every spec change, before any controller has acted. */
  generation?: number;
};

const REVISION = 'deployment.kubernetes.io/revision';

export const workloadId = (w: { kind: string; name: string }) => `${w.kind}/${w.name}`;

export const imagesOf = (o: KubeObject) =>
  [...(o.spec?.template?.spec?.initContainers ?? []), ...(o.spec?.template?.spec?.containers ?? [])].map((c: any) => `${c.name}=${c.image}`);

/**
 * The revision number of a live workload, read the way `kubectl rollout history` does; undefined
 * when there is no history to return to (revisionHistoryLimit 0 keeps none).
 */
export function liveRevision(obj: KubeObject, controllerRevisions: KubeObject[]): number | undefined {
  if (obj.spec?.revisionHistoryLimit === 0) return undefined;
  if (obj.kind === 'Deployment') {
    const r = Number(obj.metadata.annotations?.[REVISION]);
    return Number.isFinite(r) && r > 0 ? r : undefined;
  }
  // StatefulSets and DaemonSets keep history in ControllerRevisions; the current one's name is in status.
  const current = obj.kind === 'StatefulSet' ? obj.status?.updateRevision : undefined;
  const owned = controllerRevisions.filter((cr) => ownedBy(cr, obj.metadata.uid as string));
  if (current) return owned.find((cr) => cr.metadata.name === current)?.revision as number | undefined;
  return owned.reduce<number | undefined>((max, cr) => Math.max(max ?? 0, cr.revision as number), undefined);
}

export async function readLive(kubectl: Kubectl, namespace: string, kind: string, name: string): Promise<KubeObject | undefined> {
  const res = await kubectl.run(['get', kind.toLowerCase(), name, '-n', namespace, '-o', 'json', '--ignore-not-found'], {});
  return res.stdout.trim() ? (JSON.parse(res.stdout) as KubeObject) : undefined;
}

export async function controllerRevisions(kubectl: Kubectl, namespace: string): Promise<KubeObject[]> {
  return (await kubectl.json(['get', 'controllerrevisions', '-n', namespace])).items;
}

/** The live state of each workload: before the apply, and again when deciding a rollback. */
export async function snapshot(kubectl: Kubectl, namespace: string, workloads: { kind: string; name: string }[]): Promise<Snapshot[]> {
  const history = workloads.some((w) => w.kind !== 'Deployment') ? await controllerRevisions(kubectl, namespace) : [];
  const out: Snapshot[] = [];
  for (const w of workloads) {
    const live = await readLive(kubectl, namespace, w.kind, w.name);
    out.push({
      kind: w.kind,
      name: w.name,
      existed: !!live,
      revision: live ? liveRevision(live, history) : undefined,
      generation: live?.metadata.generation as number | undefined,
    });
  }
  return out;
}
