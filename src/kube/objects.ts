// Kubernetes objects as the action handles them: manifests as free-form parsed JSON, and the few
// status fields the rollout verdicts read, typed by hand (type-only: nothing reaches the bundle).
export type OwnerReference = { uid: string; kind?: string; name?: string; controller?: boolean };

export type Metadata = {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
};

/** What every object has; the typed kinds below add their own spec and status. */
export type Resource = { apiVersion?: string; kind?: string; metadata: Metadata };

/** A manifest as rendered: any kind, any fields. */
export type KubeObject = Resource & {
  apiVersion: string;
  kind: string;
  // Manifests are whatever the user wrote: their fields are checked where they are read.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
  [key: string]: unknown;
};

export type Condition = { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; lastTransitionTime?: string };

export type ContainerStateTerminated = { exitCode: number; reason?: string; message?: string; startedAt?: string; finishedAt?: string };
export type ContainerState = {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: ContainerStateTerminated;
};
export type ContainerStatus = {
  name: string;
  image?: string;
  ready?: boolean;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
};

export type Container = { name: string; image?: string; [key: string]: unknown };
export type PodSpec = { restartPolicy?: 'Always' | 'OnFailure' | 'Never'; containers?: Container[]; initContainers?: Container[]; [key: string]: unknown };

export type Pod = Resource & {
  spec?: PodSpec;
  status?: {
    phase?: string;
    startTime?: string;
    conditions?: Condition[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
};

type PodTemplate = { metadata?: Partial<Metadata>; spec?: PodSpec };

export type Deployment = Resource & {
  spec?: { replicas?: number; paused?: boolean; revisionHistoryLimit?: number; template?: PodTemplate };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
    conditions?: Condition[];
  };
};

export type ReplicaSet = Resource & { status?: { replicas?: number; readyReplicas?: number } };

export type StatefulSet = Resource & {
  spec?: {
    replicas?: number;
    revisionHistoryLimit?: number;
    template?: PodTemplate;
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { partition?: number } };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
};

export type DaemonSet = Resource & {
  spec?: { revisionHistoryLimit?: number; template?: PodTemplate };
  status?: { observedGeneration?: number; desiredNumberScheduled?: number; updatedNumberScheduled?: number; numberAvailable?: number };
};

export type Job = Resource & {
  spec?: { backoffLimit?: number; template?: PodTemplate };
  status?: { active?: number; succeeded?: number; failed?: number; conditions?: Condition[] };
};

export type ControllerRevision = Resource & { revision: number };

export type KubeEvent = Resource & {
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject?: { kind?: string; name?: string };
};

export type List<T> = { metadata: { resourceVersion: string }; items: T[] };

export type WatchEvent<T = KubeObject> = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T };

/** A JSON object (not an array, not null): what a manifest field must be before its keys are read. */
export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export const objectId = (o: Pick<KubeObject, 'kind' | 'metadata'>) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** Whether `o` is owned (controlled) by the object with `uid`. */
export const ownedBy = (o: Pick<Resource, 'metadata'>, uid: string | undefined) => (o.metadata.ownerReferences ?? []).some((r) => r.uid === uid);

export const conditionOf = (o: { status?: { conditions?: Condition[] } }, type: string) => o.status?.conditions?.find((c) => c.type === type);
