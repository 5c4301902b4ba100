// Rewrites of rendered manifests before they are applied. Every function
// returns new objects so the caller can still show or diff the originals.
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

export function substituteImage(objects: KubeObject[], target: ImageReference, pinned: string): { objects: KubeObject[]; changes: ImageChange[] } {
  const result = objects.map(copy);
  const changes: ImageChange[] = [];
  for (const o of result) {
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
  return objects.map((original) => {
    const o = copy(original);
    if (WORKLOAD_KINDS.includes(o.kind)) {
      o.metadata.annotations = { ...o.metadata.annotations, ...annotations };
    }
    return o;
  });
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

// Applying spec.replicas would reset the count the HPA chose, and the pods
// above it would be killed on every deploy.
export function omitHpaScaledReplicas(objects: KubeObject[]): KubeObject[] {
  return objects.map((original) => {
    const o = copy(original);
    const scaled = HPA_SCALABLE_KINDS.includes(o.kind) && objects.some((hpa) => isAutoscalerOf(hpa, o));
    if (scaled && isRecord(o.spec)) delete o.spec.replicas;
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
