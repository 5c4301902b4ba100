// The shape of a Kubernetes object as the pipeline handles it: plain parsed JSON.
export type Metadata = {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
};

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec?: any;
  status?: any;
  [key: string]: unknown;
};

/** A parsed manifest remembers where it came from, so errors can name the file. */
export type SourcedObject = KubeObject & { __source?: string };

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** Kinds whose revisions `kubectl rollout undo` can restore. */
export const ROLLABLE_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;

export const objectId = (o: Pick<KubeObject, 'kind' | 'metadata'>) =>
  `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** Whether `o` is owned (controlled) by the object with `uid`. */
export const ownedBy = (o: Pick<KubeObject, 'metadata'>, uid: string | undefined) =>
  ((o.metadata.ownerReferences as { uid: string }[] | undefined) ?? []).some((r) => r.uid === uid);
