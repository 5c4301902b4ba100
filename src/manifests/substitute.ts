// Rewrites of rendered manifests before they are applied. No function modifies its input: what it
// changes is a new object, so the caller can still show or diff the originals.
import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import { bareName, formatImageReference, namesRepository, type ImageReference } from '../image/reference.js';
import { isRecord, objectId, type KubeObject } from '../kube/objects.js';
import { CLUSTER_SCOPED_KINDS } from '../kube/resources.js';
import { WORKLOAD_KINDS } from './objects.js';

export type ImageChange = {
  object: string;
  container: string;
  path: string;
  from: string;
  to: string;
};

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
const TEMPLATED_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];
const HPA_SCALABLE_KINDS = ['Deployment', 'StatefulSet', 'ReplicaSet'];

const copy = <T>(value: T): T => structuredClone(value);

function podSpecPath(o: KubeObject): string | undefined {
  if (o.kind === 'Pod') return 'spec';
  if (TEMPLATED_KINDS.includes(o.kind)) return 'spec.template.spec';
  if (o.kind === 'CronJob') return 'spec.jobTemplate.spec.template.spec';
  return undefined;
}

const valueAt = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), o);

export function podSpecPaths(o: KubeObject): { path: string; spec: Record<string, unknown> }[] {
  const path = podSpecPath(o);
  if (path === undefined) return [];
  const spec = valueAt(o, path);
  return isRecord(spec) ? [{ path, spec }] : [];
}

type ContainerSlot = { container: Record<string, unknown>; path: string };

function containersOf(o: KubeObject): ContainerSlot[] {
  return podSpecPaths(o).flatMap(({ path, spec }) =>
    CONTAINER_LISTS.flatMap((list) => {
      const containers: unknown = spec[list];
      if (!Array.isArray(containers)) return [];
      return containers.map((container, i) => ({ container, path: `${path}.${list}[${i}]` })).filter((slot): slot is ContainerSlot => isRecord(slot.container));
    }),
  );
}

function imagesFoundSummary(objects: KubeObject[]): string {
  const found = objects
    .map((o) => ({ id: objectId(o), images: containersOf(o).map(({ container }) => String(container.image)) }))
    .filter(({ images }) => images.length > 0)
    .map(({ id, images }) => `${id}: ${images.join(', ')}`);
  return found.length > 0 ? found.join('; ') : 'none';
}

const namesImage = (o: KubeObject, target: ImageReference) =>
  containersOf(o).some(({ container }) => typeof container.image === 'string' && namesRepository(container.image, target));

export function substituteImage(objects: KubeObject[], target: ImageReference, pinned: string): { objects: KubeObject[]; changes: ImageChange[] } {
  // Only what changes is copied: the rest is passed on as it came, never to be modified.
  const result = objects.map((o) => (namesImage(o, target) ? copy(o) : o));
  const changes: ImageChange[] = [];
  for (const o of result.filter((o, i) => o !== objects[i])) {
    for (const { container, path } of containersOf(o)) {
      if (typeof container.image !== 'string' || !namesRepository(container.image, target)) continue;
      changes.push({ object: objectId(o), container: String(container.name), path: `${path}.image`, from: container.image, to: pinned });
      container.image = pinned;
    }
  }
  if (changes.length === 0) {
    const repository = formatImageReference({ registry: target.registry, repository: target.repository });
    throw new UserError(
      `no container image in the manifests names '${repository}' (by full repository or bare name '${bareName(target)}'); ` +
        `images found: ${imagesFoundSummary(objects)}`,
    );
  }
  return { objects: result, changes };
}

// Only the workload's own metadata: annotating the pod template would roll
// out a new revision on every deploy even when nothing else changed.
export function annotateWorkloads(objects: KubeObject[], annotations: Record<string, string>): KubeObject[] {
  return objects.map((o) =>
    WORKLOAD_KINDS.includes(o.kind) ? { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, ...annotations } } } : o,
  );
}

// An object without a namespace is applied into the deploy's namespace, so it
// cannot be told apart from one that names it.
const sameNamespace = (a?: string, b?: string) => !a || !b || a === b;

function isAutoscalerOf(hpa: KubeObject, o: KubeObject): boolean {
  const ref = hpa.spec?.scaleTargetRef;
  return (
    hpa.kind === 'HorizontalPodAutoscaler' &&
    hpa.apiVersion.startsWith('autoscaling/') &&
    isRecord(ref) &&
    ref.kind === o.kind &&
    ref.name === o.metadata.name &&
    sameNamespace(hpa.metadata.namespace, o.metadata.namespace)
  );
}

/** What already runs in the namespace that decides replicas: the live workloads and every HPA (KEDA makes one too). */
export type LiveScaling = { workloads: KubeObject[]; autoscalers: KubeObject[] };

const NOTHING_LIVE: LiveScaling = { workloads: [], autoscalers: [] };

/**
 * Where a scaled workload that does not run yet starts: inside its autoscaler's bounds, at once,
 * rather than at 1 until the autoscaler's next sync raises it (up to 15 s on a first install).
 */
function startingReplicas(o: KubeObject, hpa: KubeObject): number | undefined {
  const min = typeof hpa.spec?.minReplicas === 'number' ? hpa.spec.minReplicas : 1;
  const max = typeof hpa.spec?.maxReplicas === 'number' ? hpa.spec.maxReplicas : Infinity;
  const asked = typeof o.spec?.replicas === 'number' ? o.spec.replicas : min;
  return Math.min(Math.max(asked, min), max);
}

/**
 * The replica count belongs to whatever autoscaler targets a workload, in the manifests or only
 * live. Applying the manifest's count would reset the one the HPA chose; leaving the field out of
 * an apply that owned it would reset it to 1. So a scaled workload that runs keeps its live count
 * (the autoscaler changes it from there), and one that does not run yet starts within the
 * autoscaler's bounds.
 */
export function leaveReplicasToScalers(objects: KubeObject[], live: LiveScaling = NOTHING_LIVE): KubeObject[] {
  // By the target's kind and name: one pass, however many objects.
  const scalers = new Map<string, KubeObject[]>();
  for (const hpa of [...objects, ...live.autoscalers].filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const key = `${hpa.spec?.scaleTargetRef?.kind}/${hpa.spec?.scaleTargetRef?.name}`;
    scalers.set(key, [...(scalers.get(key) ?? []), hpa]);
  }
  const running = new Map(live.workloads.map((w) => [`${w.kind}/${w.metadata.name}`, w]));
  return objects.map((o) => {
    const hpa = scalers.get(`${o.kind}/${o.metadata.name}`)?.find((s) => isAutoscalerOf(s, o));
    if (!HPA_SCALABLE_KINDS.includes(o.kind) || !isRecord(o.spec) || !hpa) return o;
    const now = running.get(`${o.kind}/${o.metadata.name}`)?.spec?.replicas;
    return { ...o, spec: { ...o.spec, replicas: typeof now === 'number' ? now : startingReplicas(o, hpa) } };
  });
}

const CONFIG_CHECKSUM = 'medaudit.io/config-checksum';

type ConfigRef = { kind: 'ConfigMap' | 'Secret'; name: string };

/** The ConfigMaps and Secrets a pod spec reads: env, envFrom, volumes and projected volumes. */
export function configReferences(spec: Record<string, unknown>): ConfigRef[] {
  const refs: ConfigRef[] = [];
  const add = (kind: ConfigRef['kind'], name: unknown) => typeof name === 'string' && refs.push({ kind, name });
  const containers = [...CONTAINER_LISTS].flatMap((list) => (Array.isArray(spec[list]) ? (spec[list] as unknown[]) : [])).filter(isRecord);
  for (const c of containers) {
    for (const e of Array.isArray(c.env) ? c.env.filter(isRecord) : []) {
      const from = isRecord(e.valueFrom) ? e.valueFrom : {};
      if (isRecord(from.configMapKeyRef)) add('ConfigMap', from.configMapKeyRef.name);
      if (isRecord(from.secretKeyRef)) add('Secret', from.secretKeyRef.name);
    }
    for (const e of Array.isArray(c.envFrom) ? c.envFrom.filter(isRecord) : []) {
      if (isRecord(e.configMapRef)) add('ConfigMap', e.configMapRef.name);
      if (isRecord(e.secretRef)) add('Secret', e.secretRef.name);
    }
  }
  for (const v of Array.isArray(spec.volumes) ? spec.volumes.filter(isRecord) : []) {
    if (isRecord(v.configMap)) add('ConfigMap', v.configMap.name);
    if (isRecord(v.secret)) add('Secret', v.secret.secretName);
    const sources = isRecord(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources.filter(isRecord) : [];
    for (const src of sources) {
      if (isRecord(src.configMap)) add('ConfigMap', src.configMap.name);
      if (isRecord(src.secret)) add('Secret', src.secret.name);
    }
  }
  return refs;
}

const contentOf = (o: KubeObject) =>
  JSON.stringify([o.data ?? {}, o.stringData ?? {}, o.binaryData ?? {}], (_k, v: unknown) =>
    isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );

/**
 * A checksum of the ConfigMaps and Secrets of the release that each pod template reads, as a
 * template annotation: a config change then rolls the pods like an image change does — watched,
 * judged, and rolled back with its template — instead of waiting for the next unrelated restart.
 */
export function annotateConfigChecksums(objects: KubeObject[]): KubeObject[] {
  const config = new Map(objects.filter((o) => o.kind === 'ConfigMap' || o.kind === 'Secret').map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  const contents = new Map<string, string>();
  const content = (id: string) => contents.get(id) ?? contents.set(id, contentOf(config.get(id)!)).get(id)!;
  return objects.map((original) => {
    const template = TEMPLATED_KINDS.includes(original.kind) ? original.spec?.template : undefined;
    if (!isRecord(template) || !isRecord(template.spec)) return original;
    const read = [...new Set(configReferences(template.spec).map((r) => `${r.kind}/${r.name}`))].sort().filter((id) => config.has(id));
    if (!read.length) return original;
    const hash = createHash('sha256');
    for (const id of read) hash.update(`${id}\n${content(id)}\n`);
    const o = copy(original);
    const metadata = isRecord(o.spec.template.metadata) ? o.spec.template.metadata : (o.spec.template.metadata = {});
    metadata.annotations = { ...(isRecord(metadata.annotations) ? metadata.annotations : {}), [CONFIG_CHECKSUM]: hash.digest('hex').slice(0, 16) };
    return o;
  });
}

function namespacesUsed(objects: KubeObject[]): Set<string> {
  const used = objects.map((o) => (o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace));
  return new Set(used.filter((ns): ns is string => typeof ns === 'string' && ns !== ''));
}

// Service accounts bound from the old namespace moved with it; others (say
// in kube-system) did not.
function rehomeSubjects(binding: KubeObject, oldNamespaces: Set<string>, namespace: string): void {
  const subjects: unknown = binding.subjects;
  if (!Array.isArray(subjects)) return;
  for (const subject of subjects) {
    if (isRecord(subject) && subject.kind === 'ServiceAccount' && typeof subject.namespace === 'string' && oldNamespaces.has(subject.namespace)) {
      subject.namespace = namespace;
    }
  }
}

export function setNamespace(objects: KubeObject[], namespace: string): KubeObject[] {
  const oldNamespaces = namespacesUsed(objects);
  return objects.map((original) => {
    const o = copy(original);
    if (o.kind === 'Namespace') {
      o.metadata.name = namespace;
    } else if (!CLUSTER_SCOPED_KINDS.includes(o.kind)) {
      o.metadata.namespace = namespace;
      if (o.kind === 'RoleBinding') rehomeSubjects(o, oldNamespaces, namespace);
    }
    return o;
  });
}
