// What the deploying identity must be allowed to do for a given set of objects (pure): apply
// each kind, watch and read the rollout, and roll back.
import type { Permission } from '../kube/access.js';
import type { KubeObject } from '../kube/objects.js';
import { isNamespaced, resourceOf } from '../kube/resources.js';
import { WORKLOADS } from '../rollout/workloads.js';
import { LOCK_NAME } from '../state/lock.js';
import { RECORD_NAME } from '../state/record.js';

/**
 * Server-side apply is a PATCH that creates what is missing; an existing namespace is only
 * patched (a namespaced deployer may patch its own namespace but never create one).
 */
export function requiredPermissions(objects: KubeObject[], namespaceExists: boolean): Permission[] {
  const out: Permission[] = [];
  const add = (verb: string, resource: string, namespaced = true, subresource?: string) => {
    if (!out.some((p) => p.verb === verb && p.resource === resource && p.subresource === subresource))
      out.push({ verb, resource, namespaced, ...(subresource ? { subresource } : {}) });
  };
  for (const o of objects) {
    if (o.kind === 'Namespace') {
      if (namespaceExists) add('patch', `namespaces/${o.metadata.name}`, false);
      else add('create', 'namespaces', false);
      continue;
    }
    add('patch', resourceOf(o), isNamespaced(o.kind));
    add('create', resourceOf(o), isNamespaced(o.kind));
    // A rollback reads every object's state before the release and deletes what the release added.
    add('get', resourceOf(o), isNamespaced(o.kind));
    add('delete', resourceOf(o), isNamespaced(o.kind));
  }
  // The deploy lock and the release record.
  add('get', `leases.coordination.k8s.io/${LOCK_NAME}`);
  add('update', `leases.coordination.k8s.io/${LOCK_NAME}`);
  add('create', 'leases.coordination.k8s.io');
  add('get', `configmaps/${RECORD_NAME}`);
  add('patch', `configmaps/${RECORD_NAME}`);
  add('create', 'configmaps');
  // Replicas stay with any autoscaler that runs, and a paused Deployment is refused: both read live.
  add('list', resourceOf({ kind: 'HorizontalPodAutoscaler' }));
  // Watching the rollout and explaining a failure.
  for (const r of ['pods', 'events']) add('list', r);
  add('watch', 'pods');
  add('watch', 'events');
  add('get', 'pods', true, 'log');
  const workloads = [...new Set(objects.map((o) => o.kind))].flatMap((k) => WORKLOADS[k] ?? []);
  for (const w of workloads) {
    for (const v of ['get', 'list', 'watch']) add(v, resourceOf(w));
    for (const read of w.reads) for (const v of ['list', 'watch']) add(v, resourceOf({ kind: read }));
    // History in ControllerRevisions; a StatefulSet rollback also deletes the pods stuck on the bad revision.
    if (w.controllerRevisions) add('list', resourceOf({ kind: 'ControllerRevision' }));
    if (w.unstickAfterUndo) add('delete', 'pods');
  }
  return out;
}
