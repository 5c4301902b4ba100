// Statuses captured from the local cluster (test/fixtures/status, made by capture.sh there), loaded
// as fresh copies, and served by a ScriptedKube as the cluster's state at that moment.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ControllerRevision, KubeObject } from '../../src/kube/objects.js';
import { REPO } from './cluster.js';
import type { ScriptedKube } from './scripted-kube.js';

export type DeploymentFixture = { deployment: KubeObject; replicaSets: KubeObject[]; pods: KubeObject[]; capturedAt: string };
export type JobFixture = { job: KubeObject; pods: KubeObject[]; capturedAt: string };
export type StatefulSetFixture = { statefulSet: KubeObject; pods: KubeObject[]; controllerRevisions: ControllerRevision[]; capturedAt: string };

/** The namespace every fixture was captured in. */
export const FIXTURE_NAMESPACE = 'capture-562e486e';

const load = <T>(name: string): T => JSON.parse(readFileSync(path.join(REPO, 'test', 'fixtures', 'status', `${name}.json`), 'utf8')) as T;
export const deploymentFixture = (name: string) => load<DeploymentFixture>(name);
export const statefulSetFixture = (name: string) => load<StatefulSetFixture>(name);
/** A Job fixture of capture-jobs.sh: job-<name>.json. */
export const jobFixture = (name: string) => load<JobFixture>(`job-${name}`);

const ownedBy = (o: KubeObject, owner: KubeObject) => (o.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid);

/** The cluster as the fixture shows it: the Deployment, its ReplicaSets and their pods (others' pods kept). */
export function serveDeployment(kube: ScriptedKube, f: DeploymentFixture): void {
  kube.replace('ReplicaSet', f.replicaSets);
  const others = kube.podsNotOwnedBy('ReplicaSet');
  kube.replace('Pod', [...others, ...f.pods]);
  kube.put('Deployment', f.deployment);
}

export function serveJob(kube: ScriptedKube, f: JobFixture): void {
  const others = kube.podsNotOwnedBy('Job');
  kube.replace('Pod', [...others, ...f.pods]);
  kube.put('Job', f.job);
}

export function serveStatefulSet(kube: ScriptedKube, f: StatefulSetFixture): void {
  const others = kube.podsNotOwnedBy('StatefulSet');
  kube.replace('Pod', [...others, ...f.pods]);
  kube.replace('ControllerRevision', f.controllerRevisions as unknown as KubeObject[]);
  kube.put('StatefulSet', f.statefulSet);
}

/** The pods of the ReplicaSet the Deployment's revision names: the new release's. */
export function newPodsOf(f: DeploymentFixture): KubeObject[] {
  const rs = f.replicaSets.find(
    (r) => r.metadata.annotations?.['deployment.kubernetes.io/revision'] === f.deployment.metadata.annotations?.['deployment.kubernetes.io/revision'],
  )!;
  return f.pods.filter((p) => ownedBy(p, rs));
}

/** The fixture once each new pod's init containers exited 0, as the kubelet reports it: the migration ran. */
export function migrated(f: DeploymentFixture): DeploymentFixture {
  for (const p of newPodsOf(f)) {
    p.status.initContainerStatuses = p.status.initContainerStatuses.map((s: KubeObject) => ({
      ...s,
      state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: f.capturedAt } },
    }));
  }
  return f;
}

/** The fixture's new pods restarted `times` more times (a crash some time after Ready). */
export function restarted(f: DeploymentFixture, times = 1): DeploymentFixture {
  const rsOfRevision = f.replicaSets.find(
    (rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === f.deployment.metadata.annotations?.['deployment.kubernetes.io/revision'],
  )!;
  for (const p of f.pods.filter((pod) => ownedBy(pod, rsOfRevision))) {
    for (const c of p.status.containerStatuses) c.restartCount = (c.restartCount ?? 0) + times;
  }
  return f;
}

/**
 * The fixture as it would read at another revision number: what an undo makes (the same template
 * renumbered) or, with a new `template` hash, what a later apply makes.
 */
export function atRevision(f: DeploymentFixture, revision: number, template?: string, generation = revision): DeploymentFixture {
  const key = 'deployment.kubernetes.io/revision';
  const current = f.deployment.metadata.annotations![key];
  for (const rs of f.replicaSets) {
    if (rs.metadata.annotations?.[key] !== current) continue;
    rs.metadata.annotations[key] = String(revision);
    if (template) rs.metadata.labels = { ...rs.metadata.labels, 'pod-template-hash': template };
  }
  f.deployment.metadata.annotations![key] = String(revision);
  f.deployment.metadata.generation = generation;
  f.deployment.status.observedGeneration = generation;
  return f;
}
