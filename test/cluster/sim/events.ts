// Records core/v1 Events the way a kubelet does: one object per (object, reason, message),
// its count and lastTimestamp bumped when the same thing happens again.
import { ApiError, Kube, Obj } from './kube.js';

export class EventRecorder {
  private readonly seen = new Map<string, { name: string; namespace: string; count: number }>();

  constructor(
    private readonly kube: Kube,
    private readonly log: (msg: string) => void,
  ) {}

  emit(pod: Obj, node: string, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    const key = `${pod.metadata.uid}|${fieldPath ?? ''}|${reason}|${message}`;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const namespace = pod.metadata.namespace!;
    const known = this.seen.get(key);
    const fail = (err: Error) => {
      // A namespace being deleted refuses new events: the kubelet drops them quietly too.
      if (err instanceof ApiError && (err.status === 404 || (err.status === 403 && err.body.includes('being terminated')))) return;
      this.log(`event ${reason} for ${namespace}/${pod.metadata.name}: ${err.message}`);
    };
    if (known) {
      known.count += 1;
      this.kube.mergePatch(`/api/v1/namespaces/${namespace}/events/${known.name}`, { count: known.count, lastTimestamp: now }).catch(fail);
      return;
    }
    const name = `${pod.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
    this.seen.set(key, { name, namespace, count: 1 });
    this.kube
      .create(`/api/v1/namespaces/${namespace}/events`, {
        metadata: { name, namespace },
        involvedObject: {
          kind: 'Pod',
          apiVersion: 'v1',
          namespace,
          name: pod.metadata.name,
          uid: pod.metadata.uid,
          resourceVersion: pod.metadata.resourceVersion,
          ...(fieldPath ? { fieldPath } : {}),
        },
        reason,
        message,
        type,
        source: { component: 'kubelet', host: node },
        reportingComponent: 'kubelet',
        reportingInstance: node,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      })
      .catch(fail);
  }

  forget(uid: string): void {
    for (const key of this.seen.keys()) if (key.startsWith(`${uid}|`)) this.seen.delete(key);
  }
}
