// Rewrites of rendered manifests before they are applied. Every function
// returns new objects so the caller can still show or diff the originals.
import { UserError } from '../errors.js';
import { bareName, formatImageReference, namesRepository, type ImageReference } from '../image/reference.js';
import { objectId, WORKLOAD_KINDS, type KubeObject } from './objects.js';

export type ImageChange = {
  object: string;
  container: string;
  path: string;
  from: string;
  to: string;
};

export const CLUSTER_SCOPED_KINDS: readonly string[] = [
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
  'CustomResourceDefinition',
  'PriorityClass',
  'IngressClass',
];

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
const TEMPLATED_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];
const HPA_SCALABLE_KINDS = ['Deployment', 'StatefulSet', 'ReplicaSet'];

const copy = <T>(value: T): T => structuredClone(value);
const isObject = (value: unknown): value is Record<string, any> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function podSpecPath(o: KubeObject): string | undefined {
  if (o.kind === 'Pod') return 'spec';
  if (TEMPLATED_KINDS.includes(o.kind)) return 'spec.template.spec';
  if (o.kind === 'CronJob') return 'spec.jobTemplate.spec.template.spec';
  return undefined;
}

const valueAt = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), o);

export function podSpecPaths(o: KubeObject): { path: string; spec: any }[] {
  const path = podSpecPath(o);
  if (path === undefined) return [];
  const spec = valueAt(o, path);
  return isObject(spec) ? [{ path, spec }] : [];
}

type ContainerSlot = { container: Record<string, any>; path: string };

function containersOf(o: KubeObject): ContainerSlot[] {
  return podSpecPaths(o).flatMap(({ path, spec }) =>
    CONTAINER_LISTS.flatMap((list) => {
      const containers: unknown = spec[list];
      if (!Array.isArray(containers)) return [];
      return containers
        .map((container, i) => ({ container, path: `${path}.${list}[${i}]` }))
        .filter((slot): slot is ContainerSlot => isObject(slot.container));
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

export function substituteImage(
  objects: KubeObject[],
  target: ImageReference,
  pinned: string,
): { objects: KubeObject[]; changes: ImageChange[] } {
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
    if ((WORKLOAD_KINDS as readonly string[]).includes(o.kind)) {
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
    isObject(ref) &&
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
    if (scaled && isObject(o.spec)) delete o.spec.replicas;
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
    if (isObject(subject) && subject.kind === 'ServiceAccount' && oldNamespaces.has(subject.namespace)) {
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
