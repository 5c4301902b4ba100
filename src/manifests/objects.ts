// Manifests as the pipeline reads them: parsed objects that remember the file they came from.
import type { KubeObject } from '../kube/objects.js';

/** A parsed manifest remembers where it came from, so errors can name the file. */
export type SourcedObject = KubeObject & { __source?: string };

/** Kinds that own pods: the ones a release's image lands in and its annotations mark. */
export const WORKLOAD_KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod'];

type IngressRule = { host?: string };
type IngressTls = { hosts?: string[] };

/** The public URL of the release, from the first Ingress host. */
export function ingressUrl(objects: KubeObject[]): string | undefined {
  const ingress = objects.find((o) => o.kind === 'Ingress');
  const rule = (ingress?.spec?.rules as IngressRule[] | undefined)?.find((r) => r.host);
  if (!ingress || !rule?.host) return undefined;
  const tls = ((ingress.spec.tls ?? []) as IngressTls[]).some((t) => (t.hosts ?? []).includes(rule.host!));
  return `${tls ? 'https' : 'http'}://${rule.host}`;
}
