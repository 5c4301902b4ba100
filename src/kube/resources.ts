// Where each kind lives in the API: its resource name, group and version, and whether it is
// namespaced. One table for API paths, `kubectl auth can-i` resource names and namespacing.
type ResourceInfo = { plural: string; group: string; version: string; namespaced: boolean };

const r = (plural: string, groupVersion: string, namespaced = true): ResourceInfo => {
  const [group, version] = groupVersion.includes('/') ? groupVersion.split('/') : ['', groupVersion];
  return { plural, group, version, namespaced };
};

const RESOURCES: Record<string, ResourceInfo> = {
  Namespace: r('namespaces', 'v1', false),
  ConfigMap: r('configmaps', 'v1'),
  Secret: r('secrets', 'v1'),
  Service: r('services', 'v1'),
  ServiceAccount: r('serviceaccounts', 'v1'),
  PersistentVolumeClaim: r('persistentvolumeclaims', 'v1'),
  ResourceQuota: r('resourcequotas', 'v1'),
  LimitRange: r('limitranges', 'v1'),
  Pod: r('pods', 'v1'),
  Endpoints: r('endpoints', 'v1'),
  Event: r('events', 'v1'),
  PersistentVolume: r('persistentvolumes', 'v1', false),
  Deployment: r('deployments', 'apps/v1'),
  StatefulSet: r('statefulsets', 'apps/v1'),
  DaemonSet: r('daemonsets', 'apps/v1'),
  ReplicaSet: r('replicasets', 'apps/v1'),
  ControllerRevision: r('controllerrevisions', 'apps/v1'),
  Job: r('jobs', 'batch/v1'),
  CronJob: r('cronjobs', 'batch/v1'),
  HorizontalPodAutoscaler: r('horizontalpodautoscalers', 'autoscaling/v2'),
  Ingress: r('ingresses', 'networking.k8s.io/v1'),
  IngressClass: r('ingressclasses', 'networking.k8s.io/v1', false),
  NetworkPolicy: r('networkpolicies', 'networking.k8s.io/v1'),
  PodDisruptionBudget: r('poddisruptionbudgets', 'policy/v1'),
  Lease: r('leases', 'coordination.k8s.io/v1'),
  Role: r('roles', 'rbac.authorization.k8s.io/v1'),
  RoleBinding: r('rolebindings', 'rbac.authorization.k8s.io/v1'),
  ClusterRole: r('clusterroles', 'rbac.authorization.k8s.io/v1', false),
  ClusterRoleBinding: r('clusterrolebindings', 'rbac.authorization.k8s.io/v1', false),
  StorageClass: r('storageclasses', 'storage.k8s.io/v1', false),
  PriorityClass: r('priorityclasses', 'scheduling.k8s.io/v1', false),
  CustomResourceDefinition: r('customresourcedefinitions', 'apiextensions.k8s.io/v1', false),
};

/** Kinds that live outside any namespace. */
export const CLUSTER_SCOPED_KINDS: readonly string[] = Object.entries(RESOURCES)
  .filter(([, info]) => !info.namespaced)
  .map(([kind]) => kind);

export const isNamespaced = (kind: string) => !CLUSTER_SCOPED_KINDS.includes(kind);

/** English plural as the API's resource names use it (policy → policies, class → classes). */
function plural(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}

/** The resource name `kubectl auth can-i` takes for a kind (group-qualified where it has a group). */
export function resourceOf(o: { kind: string; apiVersion?: string }): string {
  const known = RESOURCES[o.kind];
  if (known) return known.group ? `${known.plural}.${known.group}` : known.plural;
  const group = o.apiVersion?.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
  return `${plural(o.kind.toLowerCase())}${group}`;
}

/** The apiVersion of a known kind (a list's items carry none). */
export function apiVersionOf(kind: string): string {
  const info = RESOURCES[kind];
  if (!info) throw new Error(`no apiVersion known for kind ${kind}`);
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** The API path of a known kind's collection in a namespace, for lists and watches. */
export function collectionPath(kind: string, namespace: string): string {
  const info = RESOURCES[kind];
  if (!info) throw new Error(`no API path known for kind ${kind}`);
  const prefix = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  return `${prefix}/namespaces/${namespace}/${info.plural}`;
}
