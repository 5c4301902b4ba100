// One release, start to end: validate, build and push, render and substitute, snapshot, apply in
// order, watch and verify, and on any failure explain it and return every workload to exactly the
// revision that ran before (what has no revisions — config, services, the schema — stays as applied).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError, ManifestError } from './errors.js';
import { checkHealth } from './health/http.js';
import type { Docker } from './image/build.js';
import { formatImageReference, parseImageReference } from './image/reference.js';
import { dockerfilePath, releaseImage, type ReleaseImage } from './image/release.js';
import type { Inputs } from './inputs.js';
import { checkKubeconfig, clusterVersion, missingPermissions } from './kube/access.js';
import { applyServerSide, diffServerSide, dryRunServerSide, namespaceExists } from './kube/apply.js';
import { KubectlError, type KubeClient } from './kube/client.js';
import { objectId, type KubeObject } from './kube/objects.js';
import { ingressUrl, type SourcedObject } from './manifests/objects.js';
import { requiredPermissions } from './manifests/permissions.js';
import { planPhases, workloadsOf, type Phase } from './manifests/plan.js';
import { loadManifests, stripSource } from './manifests/render.js';
import { annotateWorkloads, omitHpaScaledReplicas, setNamespace, substituteImage } from './manifests/substitute.js';
import { manifestNamespace, validateObjects } from './manifests/validate.js';
import { previewHost, previewLabels, previewNamespace, previewObjects, PREVIEW_TTL_SECONDS } from './preview/names.js';
import type { Reporter } from './report/reporter.js';
import { explain } from './report/summary.js';
import type { ReleaseResult, WorkloadRow } from './result.js';
import { diagnose } from './rollout/diagnose.js';
import { rollBack } from './rollout/rollback.js';
import { imagesOf, snapshot, type Snapshot } from './rollout/snapshot.js';
import type { PodFailure } from './rollout/verdict.js';
import { watchRollout, type Outcome } from './rollout/watch.js';
import { workloadId, type WorkloadRef } from './rollout/workloads.js';

export type RunContext = {
  cwd: string;
  sha?: string;
  /** owner/name of the repository being released. */
  repository?: string;
  runId?: string;
  repositoryUrl?: string;
};

export type Tools = { kube: KubeClient; docker: Docker; reporter: Reporter };
export type Hooks = { validated?: () => Promise<void> };

/** What the manifests deploy, and where. */
type Target = { objects: SourcedObject[]; namespace: string };
type CheckedTarget = Target & { namespaceExists: boolean };

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

/** This identity may deploy and roll back, and the server accepts every object. */
async function checkCluster(inputs: Inputs, target: Target, kube: KubeClient): Promise<CheckedTarget> {
  const exists = await namespaceExists(kube, target.namespace);
  const denied = await missingPermissions(kube, target.namespace, requiredPermissions(target.objects, exists));
  if (denied.length) throw new InputError('kubeconfig', `this identity may not do what deploy and rollback need: ${denied.join(', ')}`);
  if (!exists && !target.objects.some((o) => o.kind === 'Namespace')) {
    throw new InputError('namespace', `namespace '${target.namespace}' does not exist and the manifests do not create it`);
  }
  // Unknown kinds, unknown or mistyped fields and admission denials show here, before any phase
  // is applied — on a first install too, where the contents are checked for kind and schema.
  try {
    await dryRunServerSide(kube, target.namespace, target.objects.map(stripSource), inputs.fieldManager, exists);
  } catch (err) {
    if (err instanceof KubectlError) throw new ManifestError(inputs.manifests.join(', '), `the API server rejects them: ${err.said}`);
    throw err;
  }
  return { ...target, namespaceExists: exists };
}

async function validate(inputs: Inputs, ctx: RunContext, { kube, reporter }: Tools): Promise<CheckedTarget> {
  checkBuildInputs(inputs, ctx.cwd);
  await checkReachable(kube, reporter);
  const target = await loadTarget(inputs, ctx, kube);
  return checkCluster(inputs, target, kube);
}

// ---- 2. render: the image pinned by digest, the release annotated ----

function renderRelease(objects: SourcedObject[], image: ReleaseImage, ctx: RunContext): { objects: KubeObject[]; changed: string[] } {
  const { objects: substituted, changes } = substituteImage(objects.map(stripSource), image.ref, image.pinned);
  const annotations: Record<string, string> = {
    'kubernetes.io/change-cause': `medaudit-deploy ${image.pinned}${ctx.sha ? ` (commit ${ctx.sha.slice(0, 12)})` : ''}`,
    'medaudit.io/image': image.pinned,
    ...(ctx.sha ? { 'medaudit.io/commit': ctx.sha } : {}),
    ...(ctx.runId ? { 'medaudit.io/run-id': ctx.runId } : {}),
  };
  return { objects: omitHpaScaledReplicas(annotateWorkloads(substituted, annotations)), changed: [...new Set(changes.map((c) => c.object))] };
}

/** A first install's diff: every object, as it would be created. */
const createdDiff = (objects: KubeObject[]) =>
  objects
    .flatMap((o) => [
      `created ${objectId(o)}`,
      ...JSON.stringify(o, null, 2)
        .split('\n')
        .map((l) => `+ ${l}`),
    ])
    .join('\n');

async function dryRun({ kube, reporter }: Tools, target: CheckedTarget, objects: KubeObject[], fieldManager: string): Promise<void> {
  const { namespace, namespaceExists: exists } = target;
  await reporter.group('server-side dry run', async () => reporter.info(await dryRunServerSide(kube, namespace, objects, fieldManager, exists)));
  if (!exists) reporter.info(`namespace ${namespace} does not exist yet: every object would be created`);
  const diff = exists ? await diffServerSide(kube, namespace, objects, fieldManager) : createdDiff(objects);
  await reporter.group('diff against the cluster', async () => reporter.info(diff || 'no changes'));
}

// ---- 3. apply, watch, verify; on failure explain and restore ----

type Failure = { reason: string; outcome?: Outcome };

const refsOf = (phase: Phase): WorkloadRef[] => workloadsOf(phase).map((w) => ({ kind: w.kind, name: w.metadata.name }));

function failuresOf(outcome: Outcome): { workload: string; failure: PodFailure }[] {
  return [...outcome.verdicts.entries()].flatMap(([workload, v]) => (v.state === 'failed' ? v.failures.map((failure) => ({ workload, failure })) : []));
}

function outcomeFailure(outcome: Outcome, timeoutSeconds: number, prefix = ''): Failure {
  const first = failuresOf(outcome)[0];
  const what = first ? `${first.workload}: ${first.failure.reason}: ${first.failure.message}` : 'the release degraded';
  const reason = outcome.cause === 'timeout' ? `not Ready within ${timeoutSeconds}s: ${first?.failure.reason ?? 'timeout'}` : what;
  return { reason: `${prefix}${reason}`, outcome };
}

/** One row per workload for the summary, with the revision it ran before. */
function workloadRows(workloads: KubeObject[], before: Snapshot[], pinned: string): Map<string, WorkloadRow> {
  const rows = new Map<string, WorkloadRow>(
    before.map((s) => [workloadId(s), { workload: workloadId(s), image: '', before: s.revision, verdict: 'not reached' }]),
  );
  for (const w of workloads) {
    const mine = imagesOf(w)
      .filter((i) => i.endsWith(`=${pinned}`))
      .map((i) => i.split('=')[0]);
    rows.get(workloadId({ kind: w.kind, name: w.metadata.name }))!.image = mine.join(', ') || 'unchanged';
  }
  return rows;
}

/** A release in progress: what ran before, the phases, the rollout budget, and the summary rows. */
class Release {
  private readonly deadline: number;

  private constructor(
    private readonly inputs: Inputs,
    private readonly tools: Tools,
    private readonly namespace: string,
    private readonly phases: Phase[],
    private readonly before: Snapshot[],
    private readonly rows: Map<string, WorkloadRow>,
    private readonly base: ReleaseResult,
  ) {
    // The rollout budget starts now: building and validating do not use it up.
    this.deadline = Date.now() + inputs.timeoutSeconds * 1000;
  }

  /** Records the live revision of every workload about to change, before anything is applied. */
  static async begin(inputs: Inputs, tools: Tools, namespace: string, objects: KubeObject[], base: ReleaseResult): Promise<Release> {
    const phases = planPhases(objects);
    const workloads = phases.flatMap(workloadsOf);
    const before = await snapshot(
      tools.kube,
      namespace,
      workloads.map((w) => ({ kind: w.kind, name: w.metadata.name })),
    );
    return new Release(inputs, tools, namespace, phases, before, workloadRows(workloads, before, base.image ?? ''), base);
  }

  /** Each phase applied, then its workloads watched until Ready, before the next one starts. */
  async applyPhases(): Promise<Failure | undefined> {
    for (const phase of this.phases) {
      const failure = (await this.apply(phase)) ?? (await this.watch(phase));
      if (failure) return failure;
    }
    return undefined;
  }

  private async apply(phase: Phase): Promise<Failure | undefined> {
    const { kube, reporter } = this.tools;
    try {
      await reporter.group(`apply ${phase.name}: ${phase.objects.map(objectId).join(', ')}`, async () => {
        reporter.info(await applyServerSide(kube, this.namespace, phase.objects, this.inputs.fieldManager));
      });
      return undefined;
    } catch (err) {
      // Earlier phases are in: a rejected apply is a failed release like any other.
      return { reason: `apply ${phase.name} failed: ${err instanceof KubectlError ? err.said : (err as Error).message}` };
    }
  }

  private async watch(phase: Phase): Promise<Failure | undefined> {
    const targets = refsOf(phase);
    if (!phase.wait || !targets.length) return undefined;
    const { kube, reporter } = this.tools;
    const started = Date.now();
    const timeoutMs = Math.max(1000, this.deadline - Date.now());
    const outcome = await reporter.group(`watch ${phase.name}`, () => watchRollout(kube, this.namespace, targets, { timeoutMs, log: (l) => reporter.info(l) }));
    for (const t of targets) {
      const v = outcome.verdicts.get(workloadId(t));
      const row = this.rows.get(workloadId(t))!;
      row.seconds = (Date.now() - started) / 1000;
      row.verdict = v?.state === 'ready' ? 'ready' : (v?.message ?? 'failed');
    }
    return outcome.ok ? undefined : outcomeFailure(outcome, this.inputs.timeoutSeconds);
  }

  async checkHealth(): Promise<Failure | undefined> {
    const { healthCheckUrl: url, healthCheckStatus: want, healthCheckRetries: retries } = this.inputs;
    if (!url) return undefined;
    const { reporter } = this.tools;
    const health = await reporter.group('health check', () => checkHealth(url, want, retries, (l) => reporter.info(l)));
    if (health.ok) return undefined;
    return {
      reason: `health check ${health.url} failed after ${health.attempts} attempts: ${health.lastError ?? `status ${health.lastStatus}, want ${want}`}`,
    };
  }

  /** After Ready, keeps watching for restarts and readiness flaps. */
  async soak(): Promise<Failure | undefined> {
    const seconds = this.inputs.soakSeconds;
    if (seconds <= 0) return undefined;
    const { kube, reporter } = this.tools;
    const targets = this.phases.flatMap(refsOf);
    const outcome = await reporter.group(`soak ${seconds}s`, () =>
      watchRollout(kube, this.namespace, targets, { timeoutMs: (seconds + 120) * 1000, soakMs: seconds * 1000, log: (l) => reporter.info(l) }),
    );
    return outcome.ok ? undefined : outcomeFailure(outcome, this.inputs.timeoutSeconds, 'while soaking: ');
  }

  /** Explains the failure, then returns every workload that moved to its recorded revision. */
  async fail({ reason, outcome }: Failure): Promise<ReleaseResult> {
    const { kube, reporter } = this.tools;
    reporter.error(reason, 'release failed');
    const diagnoses = outcome ? await diagnose(kube, this.namespace, failuresOf(outcome)) : [];
    for (const d of diagnoses) reporter.error(explain(d).join('\n'), `${d.workload}: ${d.reason}`);
    const detectionSeconds = outcome?.firstDoomedPodAt ? (Date.now() - outcome.firstDoomedPodAt) / 1000 : undefined;
    const failed: ReleaseResult = { ...this.base, status: 'failed', failureReason: reason, diagnoses, detectionSeconds };
    if (!this.inputs.rollback) {
      reporter.warning('rollback is off: the failed release stays in place');
      return this.finish(failed);
    }
    const budgetMs = Math.max(60_000, this.inputs.timeoutSeconds * 1000);
    const { steps, healthy } = await reporter.group('roll back', () => rollBack(kube, this.namespace, this.before, budgetMs, reporter));
    if (steps.every((s) => s.action === 'leave')) reporter.warning('first install: nothing ran before, so the resources stay for debugging');
    reporter.info('the database schema stays migrated: a rollback never runs down-migrations');
    const undone = steps.some((s) => s.action === 'undo' && !s.error);
    return this.finish({
      ...failed,
      status: undone && healthy ? 'rolled-back' : 'failed',
      rolledBack: undone,
      failureReason: undone && !healthy ? `${reason}; the restored release is not healthy` : reason,
      rollback: steps,
    });
  }

  /** The result, with every workload's revision as it is now. */
  async finish(result: ReleaseResult): Promise<ReleaseResult> {
    const after = new Map((await snapshot(this.tools.kube, this.namespace, this.before)).map((s) => [workloadId(s), s.revision]));
    const rows = [...this.rows.values()].map((row) => ({ ...row, after: after.get(row.workload) }));
    if (result.status === 'deployed') for (const row of rows) if (row.verdict === 'not reached') row.verdict = 'ready';
    return { ...result, rows };
  }
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
  const { objects, changed } = renderRelease(target.objects, image, ctx);
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
  const release = await Release.begin(inputs, tools, target.namespace, objects, base);
  const failure = (await release.applyPhases()) ?? (await release.checkHealth()) ?? (await release.soak());
  return failure ? release.fail(failure) : release.finish(base);
}
