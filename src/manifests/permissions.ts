// What the deploying identity must be allowed to do for a given set of objects (pure): apply
// each kind, watch and read the rollout, and roll back.
import type { Permission } from '../kube/access.js';
import { CLUSTER_SCOPED_KINDS } from './substitute.js';
import type { KubeObject } from './objects.js';

const RESOURCES: Record<string, string> = {
  Namespace: 'namespaces',
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  Service: 'services',
  ServiceAccount: 'serviceaccounts',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  ResourceQuota: 'resourcequotas',
  LimitRange: 'limitranges',
  Pod: 'pods',
  Deployment: 'deployments.apps',
  StatefulSet: 'statefulsets.apps',
  DaemonSet: 'daemonsets.apps',
  ReplicaSet: 'replicasets.apps',
  Job: 'jobs.batch',
  CronJob: 'cronjobs.batch',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers.autoscaling',
  Ingress: 'ingresses.networking.k8s.io',
  NetworkPolicy: 'networkpolicies.networking.k8s.io',
  PodDisruptionBudget: 'poddisruptionbudgets.policy',
  Role: 'roles.rbac.authorization.k8s.io',
  RoleBinding: 'rolebindings.rbac.authorization.k8s.io',
  ClusterRole: 'clusterroles.rbac.authorization.k8s.io',
  ClusterRoleBinding: 'clusterrolebindings.rbac.authorization.k8s.io',
  Endpoints: 'endpoints',
  IngressClass: 'ingressclasses.networking.k8s.io',
};

/** English plural as the API's resource names use it (policy → policies, class → classes). */
function plural(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}

/** The resource name `kubectl auth can-i` takes for a kind (group-qualified where it has a group). */
export function resourceOf(o: Pick<KubeObject, 'kind' | 'apiVersion'>): string {
  const known = RESOURCES[o.kind];
  if (known) return known;
  const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
  return `${plural(o.kind.toLowerCase())}${group}`;
}

/**
 * Server-side apply is a PATCH that creates what is missing; an existing namespace is only
 * patched (a namespaced deployer may patch its own namespace but never create one).
 */
export function requiredPermissions(objects: KubeObject[], namespaceExists: boolean): Permission[] {
  const out: Permission[] = [];
  const add = (verb: string, resource: string, namespaced = true) => {
    if (!out.some((p) => p.verb === verb && p.resource === resource)) out.push({ verb, resource, namespaced });
  };
  for (const o of objects) {
    if (o.kind === 'Namespace') {
      if (namespaceExists) add('patch', `namespaces/${o.metadata.name}`, false);
      else add('create', 'namespaces', false);
      continue;
    }
    const namespaced = !CLUSTER_SCOPED_KINDS.includes(o.kind);
    add('patch', resourceOf(o), namespaced);
    add('create', resourceOf(o), namespaced);
  }
  const kinds = new Set(objects.map((o) => o.kind));
  // Watching the rollout and explaining a failure.
  for (const r of ['pods', 'events']) add('list', r);
  add('watch', 'pods');
  add('get', 'pods/log');
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet']) {
    if (!kinds.has(kind)) continue;
    for (const v of ['get', 'list', 'watch']) add(v, RESOURCES[kind]);
  }
  if (kinds.has('Deployment')) for (const v of ['list', 'watch']) add(v, 'replicasets.apps');
  // StatefulSet and DaemonSet history lives in ControllerRevisions; a StatefulSet rollback also
  // deletes the pods stuck on the bad revision.
  if (kinds.has('StatefulSet') || kinds.has('DaemonSet')) add('list', 'controllerrevisions.apps');
  if (kinds.has('StatefulSet')) add('delete', 'pods');
  return out;
}
