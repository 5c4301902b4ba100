// One release, start to end: validate, build and push, render and substitute, snapshot, apply in
// order, watch and verify, and on any failure explain it and return every workload to exactly the
// revision that ran before (what has no revisions — config, services, the schema — stays as applied).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError, ManifestError, UserError } from './errors.js';
import type { Docker } from './image/build.js';
import { formatImageReference, parseImageReference } from './image/reference.js';
import { dockerfilePath, releaseImage, type ReleaseImage } from './image/release.js';
import type { Inputs } from './inputs.js';
import { checkKubeconfig, clusterVersion, missingPermissions } from './kube/access.js';
import { diffServerSide, dryRunServerSide, namespaceExists } from './kube/apply.js';
import { KubectlError, type KubeClient } from './kube/client.js';
import { objectId, type Job, type KubeObject, type List } from './kube/objects.js';
import { apiVersionOf, collectionPath } from './kube/resources.js';
import { ingressUrl, type SourcedObject } from './manifests/objects.js';
import { requiredPermissions } from './manifests/permissions.js';
import { isMigrationJob } from './manifests/plan.js';
import { loadManifests, stripSource } from './manifests/render.js';
import { annotateConfigChecksums, annotateWorkloads, leaveReplicasToScalers, setNamespace, substituteImage, type LiveScaling } from './manifests/substitute.js';
import { manifestNamespace, validateObjects } from './manifests/validate.js';
import { previewHost, previewLabels, previewNamespace, previewObjects, PREVIEW_TTL_SECONDS } from './preview/names.js';
import type { Reporter } from './report/reporter.js';
import { Release, type ReleaseHooks } from './release.js';
import { jobsToReplace, jobUnfinished, replaceableRefusal, runningJobRefusal } from './rollout/jobs.js';
import type { ReleaseResult } from './result.js';
import type { Holder } from './state/lock.js';

export type RunContext = {
  cwd: string;
  sha?: string;
  /** owner/name of the repository being released. */
  repository?: string;
  runId?: string;
  repositoryUrl?: string;
  /** Who holds the deploy lock while this run lives: the workflow run, or this terminal. */
  holder: Holder;
};

export type Tools = { kube: KubeClient; docker: Docker; reporter: Reporter; signal?: AbortSignal };
export type Hooks = ReleaseHooks & { validated?: () => Promise<void> };

/** What the manifests deploy, and where. */
type Target = { objects: SourcedObject[]; namespace: string };
type CheckedTarget = Target & { namespaceExists: boolean; live: LiveScaling };

// ---- 1. validate: nothing is built or changed before all of this holds ----

function checkBuildInputs(inputs: Inputs, cwd: string): void {
  if (!inputs.build || inputs.dryRun) return;
  if (!existsSync(dockerfilePath(inputs, cwd))) throw new InputError('dockerfile', `'${inputs.dockerfile}' does not exist`);
  if (!existsSync(path.resolve(cwd, inputs.context))) throw new InputError('context', `'${inputs.context}' does not exist`);
}

/** The manifests, moved into the preview's or the input's namespace. */
async function loadTarget(inputs: Inputs, ctx: RunContext, kube: KubeClient): Promise<Target> {
  let objects = await loadManifests(kube, inputs.manifests, ctx.cwd);
  if (inputs.preview !== undefined) {
    // A preview lives in its PR's own namespace, under its own host, labelled with its expiry.
    const host = previewHost(inputs.preview, inputs.previewDomain);
    const labels = previewLabels(inputs.preview, new Date(Date.now() + PREVIEW_TTL_SECONDS * 1000), ctx.repository);
    objects = previewObjects(objects, inputs.preview, host, labels) as SourcedObject[];
  } else if (inputs.namespace) {
    objects = setNamespace(objects, inputs.namespace) as SourcedObject[];
  }
  validateObjects(objects);
  // The image must name a container before anything is built: substitute into a throwaway copy.
  const ref = parseImageReference(inputs.image);
  substituteImage(objects.map(stripSource), ref, formatImageReference({ ...ref, digest: `sha256:${'0'.repeat(64)}` }));
  const namespace = inputs.preview !== undefined ? previewNamespace(inputs.preview) : (inputs.namespace ?? manifestNamespace(objects));
  if (!namespace) throw new InputError('namespace', 'the manifests name no single namespace; set the namespace input');
  checkOneNamespace(objects, namespace);
  return { objects, namespace };
}

/** Every namespaced object must be in the target namespace: kubectl refuses a mix halfway through. */
function checkOneNamespace(objects: SourcedObject[], namespace: string): void {
  const stray = objects.find((o) => o.metadata.namespace && o.metadata.namespace !== namespace);
  if (stray)
    throw new ManifestError(
      `${stray.__source ?? 'manifests'}: ${objectId(stray)}`,
      `is in namespace '${stray.metadata.namespace}', not '${namespace}' (set the namespace input to move everything)`,
    );
}

/** The kubeconfig is usable and its cluster answers: checked before any manifest is read with it. */
async function checkReachable(kube: KubeClient, reporter: Reporter): Promise<void> {
  try {
    await checkKubeconfig(kube);
  } catch (err) {
    throw new InputError('kubeconfig', (err as Error).message);
  }
  try {
    reporter.info(`cluster: Kubernetes ${await clusterVersion(kube)}`);
  } catch (err) {
    throw new InputError('kubeconfig', `the cluster does not answer: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * The workloads and autoscalers that run already: they decide replicas, a paused one cannot be
 * released, and a migration Job still running cannot be replaced.
 */
async function readLive(kube: KubeClient, target: Target, exists: boolean): Promise<LiveScaling> {
  if (!exists) return { workloads: [], autoscalers: [] };
  const kinds = [...new Set(target.objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind) || isMigrationJob(o)).map((o) => o.kind))];
  // A list's items carry neither kind nor apiVersion.
  const list = async (kind: string) =>
    (await kube.raw<List<KubeObject>>(collectionPath(kind, target.namespace))).items.map((o) => ({ ...o, kind, apiVersion: apiVersionOf(kind) }));
  const [autoscalers, ...workloads] = await Promise.all([list('HorizontalPodAutoscaler'), ...kinds.map(list)]);
  return { workloads: workloads.flat(), autoscalers };
}

/** A migration Job of the release that still runs: replacing it would run two migrations at once. */
function checkNoMigrationRunning(target: Target, live: LiveScaling): void {
  for (const o of target.objects.filter(isMigrationJob)) {
    const running = live.workloads.find((w) => w.kind === 'Job' && w.metadata.name === o.metadata.name);
    if (running && jobUnfinished(running as Job)) throw new ManifestError(`${o.__source ?? 'manifests'}: ${objectId(o)}`, runningJobRefusal(running as Job));
  }
}

/**
 * A paused Deployment never rolls out: the run would judge old pods until its deadline, and the
 * undo would be refused, leaving the failed template stored for the next resume.
 */
function checkNotPaused(target: Target, live: LiveScaling): void {
  for (const o of target.objects) {
    if (o.kind !== 'Deployment' || o.spec?.paused === false) continue;
    const running = live.workloads.find((w) => w.kind === 'Deployment' && w.metadata.name === o.metadata.name);
    if (running?.spec?.paused || o.spec?.paused) {
      throw new ManifestError(
        `${o.__source ?? 'manifests'}: ${objectId(o)}`,
        `is paused: a release could neither roll out nor roll back; run 'kubectl rollout resume deployment/${o.metadata.name} -n ${target.namespace}' first`,
      );
    }
  }
}

/** The value of a settled promise, or its error: checks run together, their errors still come in order. */
function settled<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/** The server accepts every object: unknown kinds, mistyped fields and admission denials show here. */
async function checkAccepted(inputs: Inputs, target: Target, kube: KubeClient, exists: boolean): Promise<void> {
  try {
    // A migration Job whose template changes is replaced when applied: that refusal here is expected.
    const objects = target.objects.map(stripSource);
    await dryRunServerSide(kube, target.namespace, objects, inputs.fieldManager, exists, replaceableRefusal(objects.filter(isMigrationJob)));
  } catch (err) {
    if (err instanceof KubectlError) throw new ManifestError(inputs.manifests.join(', '), `the API server rejects them: ${err.said}`);
    throw err;
  }
}

/** This identity may deploy and roll back, and the server accepts every object. */
async function checkCluster(inputs: Inputs, target: Target, kube: KubeClient): Promise<CheckedTarget> {
  const exists = await namespaceExists(kube, target.namespace);
  const creates = target.objects.some((o) => o.kind === 'Namespace');
  // Asked at once; a missing permission is still the first thing said, a rejected object the next.
  const [denied, accepted, live] = await Promise.allSettled([
    missingPermissions(kube, target.namespace, requiredPermissions(target.objects, exists)),
    // On a first install too, where the contents are checked for kind and schema.
    exists || creates ? checkAccepted(inputs, target, kube, exists) : Promise.resolve(),
    readLive(kube, target, exists),
  ]);
  const missing = settled(denied);
  if (missing.length) throw new InputError('kubeconfig', `this identity may not do what deploy and rollback need: ${missing.join(', ')}`);
  if (!exists && !creates) {
    throw new InputError('namespace', `namespace '${target.namespace}' does not exist and the manifests do not create it`);
  }
  settled(accepted);
  const running = settled(live);
  checkNotPaused(target, running);
  checkNoMigrationRunning(target, running);
  return { ...target, namespaceExists: exists, live: running };
}

async function validate(inputs: Inputs, ctx: RunContext, { kube, reporter }: Tools): Promise<CheckedTarget> {
  checkBuildInputs(inputs, ctx.cwd);
  // The manifests are read offline while the cluster is asked; an unusable kubeconfig is said first.
  const [reachable, loaded] = await Promise.allSettled([checkReachable(kube, reporter), loadTarget(inputs, ctx, kube)]);
  settled(reachable);
  return checkCluster(inputs, settled(loaded), kube);
}

// ---- 2. render: the image pinned by digest, the release annotated ----

function renderRelease(objects: SourcedObject[], image: ReleaseImage, ctx: RunContext, live: LiveScaling): { objects: KubeObject[]; changed: string[] } {
  const { objects: substituted, changes } = substituteImage(objects.map(stripSource), image.ref, image.pinned);
  const annotations: Record<string, string> = {
    'kubernetes.io/change-cause': `medaudit-deploy ${image.pinned}${ctx.sha ? ` (commit ${ctx.sha.slice(0, 12)})` : ''}`,
    'medaudit.io/image': image.pinned,
    ...(ctx.sha ? { 'medaudit.io/commit': ctx.sha } : {}),
    ...(ctx.runId ? { 'medaudit.io/run-id': ctx.runId } : {}),
  };
  const rendered = leaveReplicasToScalers(annotateConfigChecksums(annotateWorkloads(substituted, annotations)), live);
  return { objects: rendered, changed: [...new Set(changes.map((c) => c.object))] };
}

/** A Secret's values are not shown, as `kubectl diff` does not show them. */
function redacted(o: KubeObject): KubeObject {
  if (o.kind !== 'Secret') return o;
  const hide = (values: unknown) => (values && typeof values === 'object' ? Object.fromEntries(Object.keys(values).map((k) => [k, '***'])) : values);
  return { ...o, ...(o.data ? { data: hide(o.data) } : {}), ...(o.stringData ? { stringData: hide(o.stringData) } : {}) };
}

/** A first install's diff: every object, as it would be created. */
const createdDiff = (objects: KubeObject[]) =>
  objects
    .flatMap((o) => [
      `created ${objectId(o)}`,
      ...JSON.stringify(redacted(o), null, 2)
        .split('\n')
        .map((l) => `+ ${l}`),
    ])
    .join('\n');

async function dryRun({ kube, reporter }: Tools, target: CheckedTarget, objects: KubeObject[], fieldManager: string): Promise<void> {
  const { namespace, namespaceExists: exists } = target;
  const migrations = objects.filter(isMigrationJob);
  await reporter.group('server-side dry run', async () =>
    reporter.info(await dryRunServerSide(kube, namespace, objects, fieldManager, exists, replaceableRefusal(migrations))),
  );
  if (!exists) reporter.info(`namespace ${namespace} does not exist yet: every object would be created`);
  // A Job to be replaced cannot be diffed (the server refuses the change): it is shown as created anew.
  const replaced = exists ? await jobsToReplace(kube, namespace, migrations, fieldManager) : [];
  const isReplaced = (o: KubeObject) => isMigrationJob(o) && replaced.includes(o.metadata.name);
  const kept = objects.filter((o) => !isReplaced(o));
  const diff = exists
    ? [await diffServerSide(kube, namespace, kept, fieldManager), createdDiff(objects.filter(isReplaced))].filter(Boolean).join('\n')
    : createdDiff(objects);
  for (const name of replaced) reporter.info(`Job/${name} would be deleted and created anew: it failed before, or it changed`);
  await reporter.group('diff against the cluster', async () => reporter.info(diff || 'no changes'));
}

// ---- the pipeline ----

export async function deploy(inputs: Inputs, ctx: RunContext, tools: Tools, hooks: Hooks = {}): Promise<ReleaseResult> {
  const { reporter } = tools;
  const target = await reporter.group('validate', () => validate(inputs, ctx, tools));
  await hooks.validated?.();
  const building = inputs.build && !inputs.dryRun;
  const image = await reporter.group(building ? 'build and push' : 'resolve image', () =>
    releaseImage(
      inputs,
      ctx,
      tools.docker,
      (l) => reporter.info(l),
      (l) => reporter.warning(l),
    ),
  );
  const { objects, changed } = renderRelease(target.objects, image, ctx, target.live);
  reporter.info(`image ${image.pinned} set in ${changed.join(', ')}`);
  const base: ReleaseResult = {
    status: 'deployed',
    rolledBack: false,
    image: image.pinned,
    digest: image.digest,
    tag: inputs.tag,
    url: inputs.healthCheckUrl ?? ingressUrl(objects),
    namespace: target.namespace,
    rows: [],
    diagnoses: [],
    rollback: [],
  };
  if (inputs.dryRun) {
    await dryRun(tools, target, objects, inputs.fieldManager);
    return { ...base, status: 'dry-run' };
  }
  if (tools.signal?.aborted) throw new UserError('cancelled before anything was applied');
  const release = await Release.begin(inputs, tools, target, objects, base, ctx.holder, hooks);
  let failure: Awaited<ReturnType<Release['soak']>>;
  try {
    failure = (await release.applyPhases()) ?? (await release.checkHealth()) ?? (await release.soak());
  } catch (err) {
    // Whatever went wrong, what moved goes back and the lock is freed.
    failure = { reason: `unexpected error: ${(err as Error).message}` };
  }
  return failure ? release.fail(failure) : release.finish(base);
}
