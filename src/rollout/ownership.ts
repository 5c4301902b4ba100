// After `rollout undo`, the restored template belongs to kubectl's field manager, not to ours: the
// next release could not remove what it drops (an env var, a renamed container), because server-side
// apply only removes fields its manager owned. So the undo's ownership is handed to our manager.
import type { KubeClient } from '../kube/client.js';
import type { KubeObject } from '../kube/objects.js';

export type ManagedFieldsEntry = {
  manager: string;
  operation: 'Apply' | 'Update';
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldSet;
  subresource?: string;
};
type FieldSet = { [key: string]: FieldSet };

/** The union of two field sets (managedFields' fieldsV1 tries). */
export function unionFields(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? unionFields(out[k], v) : v;
  return out;
}

const same = (a: ManagedFieldsEntry, b: ManagedFieldsEntry) =>
  a.manager === b.manager &&
  a.operation === b.operation &&
  a.subresource === b.subresource &&
  a.time === b.time &&
  JSON.stringify(a.fieldsV1) === JSON.stringify(b.fieldsV1);

/**
 * kubectl's `rollout undo` writes as an Update by a manager named kubectl (or kubectl-rollout): the
 * undo's entry is one of those that is new or changed since before the undo (no clocks compared).
 */
const isUndo = (e: ManagedFieldsEntry, before: ManagedFieldsEntry[]) =>
  /^kubectl(-rollout)?$/.test(e.manager) && e.operation === 'Update' && !e.subresource && !before.some((b) => same(b, e));

/**
 * The managed fields with the undo's entry folded into our Apply entry (pure); undefined when there
 * is nothing to fold (no undo entry, or no entry of ours to give its fields to).
 */
export function reclaimed(entries: ManagedFieldsEntry[], fieldManager: string, before: ManagedFieldsEntry[]): ManagedFieldsEntry[] | undefined {
  const undo = entries.filter((e) => isUndo(e, before));
  const mine = entries.find((e) => e.manager === fieldManager && e.operation === 'Apply' && !e.subresource);
  if (!undo.length || !mine) return undefined;
  const fields = undo.reduce((acc, e) => unionFields(acc, e.fieldsV1 ?? {}), mine.fieldsV1 ?? {});
  return entries.filter((e) => !undo.includes(e)).map((e) => (e === mine ? { ...e, fieldsV1: fields } : e));
}

/** The managed fields of a live workload, read before an undo to tell the undo's entry after it. */
export async function managedFields(kube: KubeClient, namespace: string, kind: string, name: string): Promise<ManagedFieldsEntry[]> {
  const live = await kube.json<KubeObject>(['get', `${kind.toLowerCase()}/${name}`, '-n', namespace, '--show-managed-fields']);
  return (live.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [];
}

/** Hands the fields an undo wrote (entries not in `before`) to our field manager; says whether there were any. */
export async function reclaimAfterUndo(
  kube: KubeClient,
  namespace: string,
  kind: string,
  name: string,
  fieldManager: string,
  before: ManagedFieldsEntry[],
): Promise<boolean> {
  const ref = `${kind.toLowerCase()}/${name}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const live = await kube.json<KubeObject>(['get', ref, '-n', namespace, '--show-managed-fields']);
    const fields = reclaimed((live.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [], fieldManager, before);
    if (!fields) return false;
    // At the resourceVersion read: a concurrent change makes the patch fail rather than be lost.
    const patch = { metadata: { managedFields: fields, resourceVersion: live.metadata.resourceVersion } };
    const r = await kube.run(['patch', ref, '-n', namespace, '--type=merge', '-p', JSON.stringify(patch)], { allowFailure: true });
    if (r.code === 0) return true;
    if (!/Conflict|the object has been modified/.test(r.stderr)) throw new Error(`handing the restored template to ${fieldManager} failed: ${r.stderr.trim()}`);
  }
  return false;
}
