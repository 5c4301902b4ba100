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

/** kubectl's `rollout undo` writes as an Update by a manager named kubectl (or kubectl-rollout). */
const isUndo = (e: ManagedFieldsEntry, since: number) =>
  /^kubectl(-rollout)?$/.test(e.manager) && e.operation === 'Update' && !e.subresource && Date.parse(e.time ?? '') >= since - 1000;

/**
 * The managed fields with the undo's entry folded into our Apply entry (pure); undefined when there
 * is nothing to fold (no undo entry, or no entry of ours to give its fields to).
 */
export function reclaimed(entries: ManagedFieldsEntry[], fieldManager: string, since: number): ManagedFieldsEntry[] | undefined {
  const undo = entries.filter((e) => isUndo(e, since));
  const mine = entries.find((e) => e.manager === fieldManager && e.operation === 'Apply' && !e.subresource);
  if (!undo.length || !mine) return undefined;
  const fields = undo.reduce((acc, e) => unionFields(acc, e.fieldsV1 ?? {}), mine.fieldsV1 ?? {});
  return entries.filter((e) => !undo.includes(e)).map((e) => (e === mine ? { ...e, fieldsV1: fields } : e));
}

/** Hands the fields an undo made since `since` to our field manager; says whether there were any. */
export async function reclaimAfterUndo(kube: KubeClient, namespace: string, kind: string, name: string, fieldManager: string, since: number): Promise<boolean> {
  const ref = `${kind.toLowerCase()}/${name}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const live = await kube.json<KubeObject>(['get', ref, '-n', namespace, '--show-managed-fields']);
    const fields = reclaimed((live.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [], fieldManager, since);
    if (!fields) return false;
    // At the resourceVersion read: a concurrent change makes the patch fail rather than be lost.
    const patch = { metadata: { managedFields: fields, resourceVersion: live.metadata.resourceVersion } };
    const r = await kube.run(['patch', ref, '-n', namespace, '--type=merge', '-p', JSON.stringify(patch)], { allowFailure: true });
    if (r.code === 0) return true;
    if (!/Conflict|the object has been modified/.test(r.stderr)) throw new Error(`handing the restored template to ${fieldManager} failed: ${r.stderr.trim()}`);
  }
  return false;
}
