// Everything a release touches besides workload templates — ConfigMaps, Secrets, Services, Ingresses,
// HPAs, PDBs, RBAC — as it was before the first apply, and how to put it back: what existed gets
// our earlier applied configuration again (so fields the release added go), what the release
// created is deleted. Secret values are held in memory only and never printed.
import { KubectlError, type KubeClient } from '../kube/client.js';
import { isRecord, type KubeObject, type List } from '../kube/objects.js';
import { applyServerSide } from '../kube/apply.js';
import type { ManagedFieldsEntry } from './ownership.js';

export type ObjectRef = { apiVersion: string; kind: string; name: string };

/** One object of the release as it was before the first apply. */
export type ObjectState = ObjectRef & {
  existed: boolean;
  /** What to apply to return it to that state (undefined when it did not exist). */
  applied?: KubeObject;
  resourceVersion?: string;
};

export type RestoreStep =
  | (ObjectRef & { action: 'restore'; error?: string })
  | (ObjectRef & { action: 'delete'; error?: string })
  | (ObjectRef & { action: 'keep'; reason: string })
  | (ObjectRef & { action: 'leave'; reason: string });

type FieldSet = { [key: string]: FieldSet };

// A PVC holds data: a release that created one never deletes it on a rollback.
const KEEPS_DATA = ['PersistentVolumeClaim'];

export const refOf = (o: KubeObject): ObjectRef => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name });
const idOf = (r: { kind: string; name: string }) => `${r.kind}/${r.name}`;
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function matchesKey(item: unknown, key: Record<string, unknown>): boolean {
  return isRecord(item) && Object.entries(key).every(([k, v]) => sameJson(item[k], v));
}

/** The set's entry that names this list item (by key, value or index), if any. */
function entryFor(set: FieldSet, item: unknown, index: number): FieldSet | undefined {
  for (const [k, sub] of Object.entries(set)) {
    if (k.startsWith('k:') && matchesKey(item, JSON.parse(k.slice(2)) as Record<string, unknown>)) return sub;
    if (k.startsWith('v:') && sameJson(JSON.parse(k.slice(2)), item)) return sub;
    if (k === `i:${index}`) return sub;
  }
  return undefined;
}

const isLeaf = (set: FieldSet) => Object.keys(set).every((k) => k === '.');

/** The part of `value` a managedFields field set names (pure): what that manager applied. */
export function pickFields(value: unknown, set: FieldSet): unknown {
  if (isLeaf(set)) return value;
  if (Array.isArray(value)) {
    return value.flatMap((item, i) => {
      const sub = entryFor(set, item, i);
      return sub ? [pickFields(item, sub)] : [];
    });
  }
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(set)) {
    if (k.startsWith('f:') && k.slice(2) in value) out[k.slice(2)] = pickFields(value[k.slice(2)], sub);
  }
  return out;
}

/**
 * A Secret applied with stringData is stored as data, while its managed fields name stringData:
 * those keys are taken back from data (base64), as the values they were.
 */
function withStringDataAsData(picked: KubeObject, live: KubeObject, fields: FieldSet): KubeObject {
  const keys = Object.keys(fields['f:stringData'] ?? {})
    .filter((k) => k.startsWith('f:'))
    .map((k) => k.slice(2));
  if (live.kind !== 'Secret' || !keys.length || !isRecord(live.data)) return picked;
  const data = live.data;
  const { stringData: _unused, ...rest } = picked;
  return { ...rest, data: { ...(isRecord(picked.data) ? picked.data : {}), ...Object.fromEntries(keys.filter((k) => k in data).map((k) => [k, data[k]])) } };
}

/**
 * What our field manager had applied to a live object (pure); without an Apply entry of ours (an
 * object another tool made), the whole object minus what the server owns.
 */
export function appliedConfiguration(live: KubeObject, fieldManager: string): KubeObject {
  const entries = (live.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [];
  const mine = entries.find((e) => e.manager === fieldManager && e.operation === 'Apply' && !e.subresource);
  const { apiVersion, kind } = live;
  const identity = { name: live.metadata.name, ...(live.metadata.namespace ? { namespace: live.metadata.namespace } : {}) };
  if (mine?.fieldsV1) {
    const picked = withStringDataAsData(pickFields(live, mine.fieldsV1) as KubeObject, live, mine.fieldsV1);
    return { ...picked, apiVersion, kind, metadata: { ...(isRecord(picked.metadata) ? picked.metadata : {}), ...identity } };
  }
  const { status: _status, metadata, ...rest } = live;
  const { labels, annotations } = metadata;
  return { ...rest, apiVersion, kind, metadata: { ...identity, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) } };
}

/** The live objects among `refs`, in one request; what is absent is absent from the map. */
export async function liveObjects(kube: KubeClient, namespace: string, refs: ObjectRef[]): Promise<Map<string, KubeObject>> {
  if (!refs.length) return new Map();
  const items = refs.map((r) => ({ apiVersion: r.apiVersion, kind: r.kind, metadata: { name: r.name, namespace } }));
  const out = await kube.run(['get', '-f', '-', '-n', namespace, '-o', 'json', '--ignore-not-found', '--show-managed-fields'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
  });
  if (!out.stdout.trim()) return new Map();
  // One object comes back as itself, several as a List.
  const parsed = JSON.parse(out.stdout) as KubeObject;
  const found = parsed.kind === 'List' ? (parsed as unknown as List<KubeObject>).items : [parsed];
  return new Map(found.map((o) => [idOf({ kind: o.kind, name: o.metadata.name }), o]));
}

/** Every object of the release as it is now, before anything is applied. */
export async function captureObjects(kube: KubeClient, namespace: string, objects: KubeObject[], fieldManager: string): Promise<ObjectState[]> {
  const refs = objects.map(refOf);
  const live = await liveObjects(kube, namespace, refs);
  return refs.map((ref) => {
    const o = live.get(idOf(ref));
    return o
      ? { ...ref, existed: true, applied: appliedConfiguration(o, fieldManager), resourceVersion: o.metadata.resourceVersion }
      : { ...ref, existed: false };
  });
}

/**
 * One step per object (pure): restore what existed and changed since (its resourceVersion moved),
 * delete what the release created, keep the rest. A failed first install (nothing ran before) is
 * left for debugging unless `deleteCreated` asks for Helm's atomic behaviour. Without a fresh read
 * (the API failed) every object that existed is restored: applying an unchanged state changes nothing.
 */
export function planRestore(
  before: ObjectState[],
  now: Map<string, KubeObject> | undefined,
  opts: { firstInstall: boolean; deleteCreated: boolean },
): RestoreStep[] {
  return before.map((s): RestoreStep => {
    const ref = { apiVersion: s.apiVersion, kind: s.kind, name: s.name };
    const live = now?.get(idOf(s));
    if (!s.existed) {
      if (now && !live) return { ...ref, action: 'keep', reason: 'never created' };
      if (KEEPS_DATA.includes(s.kind)) return { ...ref, action: 'leave', reason: 'created by the failed release; kept, as it may hold data' };
      if (opts.firstInstall && !opts.deleteCreated) return { ...ref, action: 'leave', reason: 'first install: left in place for debugging' };
      return { ...ref, action: 'delete' };
    }
    if (live && live.metadata.resourceVersion === s.resourceVersion) return { ...ref, action: 'keep', reason: 'unchanged' };
    return { ...ref, action: 'restore' };
  });
}

/**
 * Carries out the restore and delete steps: one apply for every object to restore (one at a time
 * only when that fails, to say which), then the deletions. A step's failure is set on it.
 */
export async function restoreObjects(kube: KubeClient, namespace: string, steps: RestoreStep[], before: ObjectState[], fieldManager: string): Promise<void> {
  const states = new Map(before.map((s) => [idOf(s), s]));
  const restores = steps.filter((s): s is Extract<RestoreStep, { action: 'restore' }> => s.action === 'restore');
  const content = (s: ObjectRef) => states.get(idOf(s))!.applied!;
  if (restores.length) {
    try {
      await applyServerSide(kube, namespace, restores.map(content), fieldManager);
    } catch {
      for (const s of restores) {
        await applyServerSide(kube, namespace, [content(s)], fieldManager).catch((err: Error) => (s.error = firstLine(err)));
      }
    }
  }
  for (const s of steps) {
    if (s.action !== 'delete') continue;
    const r = await kube.run(['delete', `${typeOf(s)}/${s.name}`, '-n', namespace, '--ignore-not-found', '--wait=false'], { allowFailure: true });
    if (r.code !== 0) s.error = r.stderr.trim().split('\n')[0];
  }
}

/** kubectl's name for a kind: Kind.group, or Kind for the core group. */
const typeOf = (r: ObjectRef) => (r.apiVersion.includes('/') ? `${r.kind}.${r.apiVersion.split('/')[0]}` : r.kind);
const firstLine = (err: Error) => (err instanceof KubectlError ? err.said : err.message).split('\n')[0];
