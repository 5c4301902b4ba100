// One release, start to end: validate, build and push, render and substitute, snapshot, apply in
// order, watch and verify, and on any failure explain it and return every workload to exactly the
// revision that ran before (what has no revisions — config, services, the schema — stays as applied).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError, ManifestError } from './errors.js';
import { checkHealth } from './health/http.js';
import * as docker from './image/build.js';
import { manifestDigest } from './image/registry.js';
import { formatImageReference, parseImageReference, pinImage, type ImageReference } from './image/reference.js';
import type { Inputs } from './inputs.js';
import { clusterVersion, missingPermissions } from './kube/access.js';
import { Kubectl, KubectlError } from './kube/kubectl.js';
import { objectId, type KubeObject, type SourcedObject } from './manifests/objects.js';
import { requiredPermissions } from './manifests/permissions.js';
import { planPhases, workloadsOf, type Phase } from './manifests/plan.js';
import { loadManifests, stripSource } from './manifests/render.js';
import { annotateWorkloads, omitHpaScaledReplicas, setNamespace, substituteImage } from './manifests/substitute.js';
import { manifestNamespace, validateObjects } from './manifests/validate.js';
import { previewHost, previewLabels, previewNamespace, previewObjects, PREVIEW_TTL_SECONDS } from './preview/names.js';
import type { Reporter } from './report/reporter.js';
import { explain, describeStep, type RunResult, type WorkloadRow } from './report/summary.js';
import { diagnose } from './rollout/diagnose.js';
import { planRollback, undo, unstickStatefulSet, type RollbackStep } from './rollout/rollback.js';
import { imagesOf, snapshot, workloadId, type Snapshot } from './rollout/snapshot.js';
import type { PodFailure } from './rollout/verdict.js';
import { targetId, watchRollout, type Outcome, type Target } from './rollout/watch.js';

export type RunContext = {
  cwd: string;
  sha?: string;
  /** owner/name of the repository being released. */
  repository?: string;
  runId?: string;
  repositoryUrl?: string;
};

export type Tools = { kubectl: Kubectl; docker: docker.Docker; reporter: Reporter };

type Release = { ref: ImageReference; pinned: string; digest?: string };
type Prepared = { objects: SourcedObject[]; namespace: string };

// ---- 1. validate ----

/** Like `docker build -f`: relative to the working directory, not to the context. */
const dockerfilePath = (inputs: Inputs, ctx: RunContext) => path.resolve(ctx.cwd, inputs.dockerfile);

/**
 * Whether the target namespace exists. An identity that may not even read it is taken at its
 * word that it does: the permission check then names what it lacks there.
 */
async function namespaceKnown(kubectl: Kubectl, namespace: string): Promise<boolean> {
  const r = await kubectl.run(['get', 'namespace', namespace, '--ignore-not-found', '-o', 'name'], { allowFailure: true });
  if (r.code === 0) return r.stdout.trim() !== '';
  if (/forbidden/i.test(r.stderr)) return true;
  throw new KubectlError(['get', 'namespace', namespace], r);
}

/** Every namespaced object must be in the target namespace: kubectl refuses a mix halfway through. */
function checkOneNamespace(objects: SourcedObject[], namespace: string): void {
  const stray = objects.find((o) => o.metadata.namespace && o.metadata.namespace !== namespace);
  if (stray) throw new ManifestError(`${stray.__source ?? 'manifests'}: ${objectId(stray)}`, `is in namespace '${stray.metadata.namespace}', not '${namespace}' (set the namespace input to move everything)`);
}

async function prepare(inputs: Inputs, ctx: RunContext, tools: Tools): Promise<Prepared> {
  const { kubectl, reporter } = tools;
  if (inputs.build && !inputs.dryRun) {
    if (!existsSync(dockerfilePath(inputs, ctx))) throw new InputError('dockerfile', `'${inputs.dockerfile}' does not exist`);
    if (!existsSync(path.resolve(ctx.cwd, inputs.context))) throw new InputError('context', `'${inputs.context}' does not exist`);
  }
  let objects = await loadManifests(kubectl, inputs.manifests, ctx.cwd);
  if (inputs.preview !== undefined) {
    // A preview lives in its PR's own namespace, under its own host, labelled with its expiry.
    const host = previewHost(inputs.preview, inputs.previewDomain);
    const labels = previewLabels(inputs.preview, new Date(Date.now() + PREVIEW_TTL_SECONDS * 1000), ctx.repository);
    objects = previewObjects(objects, inputs.preview, host, labels) as SourcedObject[];
  } else if (inputs.namespace) {
    objects = setNamespace(objects, inputs.namespace) as SourcedObject[];
  }
  validateObjects(objects);
  const plain = objects.map(stripSource) as KubeObject[];
  // The image must name a container before anything is built: substitute into a throwaway copy.
  const ref = parseImageReference(inputs.image);
  substituteImage(plain, ref, formatImageReference({ ...ref, digest: `sha256:${'0'.repeat(64)}` }));
  const namespace = inputs.preview !== undefined ? previewNamespace(inputs.preview) : (inputs.namespace ?? manifestNamespace(objects));
  if (!namespace) {
    throw new InputError('namespace', 'the manifests name no single namespace; set the namespace input');
  }
  try {
    reporter.info(`cluster: Kubernetes ${await clusterVersion(kubectl)}`);
  } catch (err) {
    throw new InputError('kubeconfig', `the cluster does not answer: ${(err as Error).message.split('\n')[0]}`);
  }
  checkOneNamespace(objects, namespace);
  const namespaceExists = await namespaceKnown(kubectl, namespace);
  const denied = await missingPermissions(kubectl, namespace, requiredPermissions(objects, namespaceExists));
  if (denied.length) {
    throw new InputError('kubeconfig', `this identity may not do what deploy and rollback need: ${denied.join(', ')}`);
  }
  // Schema errors, unknown kinds and admission denials show here, before any phase is applied
  // (a namespace that does not exist yet cannot take a dry run of its contents).
  if (namespaceExists) {
    try {
      await apply(kubectl, namespace, plain, inputs.fieldManager, true);
    } catch (err) {
      if (err instanceof KubectlError) throw new ManifestError(inputs.manifests.join(', '), `the API server rejects them: ${(err.result.stderr || err.result.stdout).trim()}`);
      throw err;
    }
  }
  return { objects, namespace };
}

// ---- 2. build and push ----

async function release(inputs: Inputs, ctx: RunContext, tools: Tools): Promise<Release> {
  const ref = { ...parseImageReference(inputs.image), tag: inputs.tag };
  const tagged = formatImageReference(ref);
  const creds = inputs.registryUsername && inputs.registryPassword ? { username: inputs.registryUsername, password: inputs.registryPassword } : undefined;
  const log = (l: string) => tools.reporter.info(l);
  if (!inputs.build || inputs.dryRun) {
    const digest = await manifestDigest(ref, creds).catch((err) => {
      throw new InputError('image', `cannot read ${tagged} from its registry: ${(err as Error).message}`);
    });
    if (!digest) {
      if (inputs.dryRun) return { ref, pinned: tagged };
      throw new InputError('tag', `${tagged} is not in the registry (build is false, so it must exist)`);
    }
    return { ref, pinned: pinImage(ref, digest), digest };
  }
  await docker.build(
    tools.docker,
    {
      tagged,
      dockerfile: dockerfilePath(inputs, ctx),
      context: path.resolve(ctx.cwd, inputs.context),
      buildArgs: inputs.buildArgs,
      labels: docker.ociLabels(ctx.repositoryUrl, ctx.sha, new Date()),
    },
    log,
  );
  if (!inputs.push) {
    tools.reporter.warning(`push is false: ${tagged} is deployed by tag, not pinned by digest`);
    return { ref, pinned: tagged };
  }
  // Logged in only for the push: the credentials are not left in the runner's docker config.
  const registry = ref.registry ?? 'docker.io';
  if (creds) await docker.login(tools.docker, registry, creds.username, creds.password);
  try {
    await docker.push(tools.docker, tagged, log);
  } finally {
    if (creds) await docker.logout(tools.docker, registry);
  }
  const digest = await manifestDigest(ref, creds);
  if (!digest) throw new Error(`the registry does not list ${tagged} right after the push`);
  log(`pushed ${tagged} (${digest})`);
  return { ref, pinned: pinImage(ref, digest), digest };
}

// ---- 3. render and substitute ----

function render(objects: SourcedObject[], rel: Release, ctx: RunContext): { objects: KubeObject[]; changed: string[] } {
  const { objects: substituted, changes } = substituteImage(objects.map(stripSource) as KubeObject[], rel.ref, rel.pinned);
  const annotations: Record<string, string> = {
    'kubernetes.io/change-cause': `medaudit-deploy ${rel.pinned}${ctx.sha ? ` (commit ${ctx.sha.slice(0, 12)})` : ''}`,
    'medaudit.io/image': rel.pinned,
    ...(ctx.sha ? { 'medaudit.io/commit': ctx.sha } : {}),
    ...(ctx.runId ? { 'medaudit.io/run-id': ctx.runId } : {}),
  };
  return { objects: omitHpaScaledReplicas(annotateWorkloads(substituted, annotations)), changed: [...new Set(changes.map((c) => c.object))] };
}

// ---- 4. apply ----

/** What `kubectl apply` and `kubectl diff` read on stdin: the objects as one v1 List. */
const asList = (objects: KubeObject[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });

/** kubectl's arguments for a server-side apply (or diff) of that List into the namespace. */
const serverSide = (verb: 'apply' | 'diff', namespace: string, fieldManager: string) => [
  verb,
  '--server-side',
  `--field-manager=${fieldManager}`,
  '--force-conflicts',
  '-n',
  namespace,
  '-f',
  '-',
];

async function apply(kubectl: Kubectl, namespace: string, objects: KubeObject[], fieldManager: string, dryRun = false): Promise<string> {
  const args = serverSide('apply', namespace, fieldManager);
  const r = await kubectl.run(dryRun ? [...args, '--dry-run=server'] : args, { input: asList(objects) });
  return r.stdout.trim();
}

async function dryRun(tools: Tools, namespace: string, objects: KubeObject[], fieldManager: string): Promise<void> {
  const { kubectl, reporter } = tools;
  await reporter.group('server-side dry run', async () => reporter.info(await apply(kubectl, namespace, objects, fieldManager, true)));
  const diff = await kubectl.run(serverSide('diff', namespace, fieldManager), { input: asList(objects), allowFailure: true });
  // kubectl diff exits 1 when there are differences and above 1 on errors.
  if (diff.code > 1) throw new Error(`kubectl diff failed: ${diff.stderr.trim()}`);
  await reporter.group('diff against the cluster', async () => reporter.info(diff.stdout.trim() || 'no changes'));
}

// ---- 5. watch and verify ----

const targetsOf = (phase: Phase): Target[] => workloadsOf(phase).map((w) => ({ kind: w.kind, name: w.metadata.name }));

function failuresOf(outcome: Outcome): { workload: string; failure: PodFailure }[] {
  return [...outcome.verdicts.entries()].flatMap(([workload, v]) => (v.state === 'failed' ? v.failures.map((failure) => ({ workload, failure })) : []));
}

const firstFailure = (outcome: Outcome) => {
  const first = failuresOf(outcome)[0];
  return first ? `${first.workload}: ${first.failure.reason}: ${first.failure.message}` : 'the release degraded';
};

// ---- 6. explain and restore ----

/** Every step is tried, whatever the others do: one that fails is reported, not fatal. */
async function restore(tools: Tools, namespace: string, before: Snapshot[], timeoutMs: number): Promise<{ steps: RollbackStep[]; healthy: boolean }> {
  const { kubectl, reporter } = tools;
  const after = await snapshot(kubectl, namespace, before);
  const steps = planRollback(before, after);
  for (const step of steps) {
    reporter.info(`rollback ${describeStep(step)}`);
    if (step.action !== 'undo') continue;
    try {
      await undo(kubectl, namespace, step);
      if (step.kind === 'StatefulSet') {
        const deleted = await unstickStatefulSet(kubectl, namespace, step.name);
        if (deleted.length) reporter.info(`deleted pods stuck on the failed revision: ${deleted.join(', ')}`);
      }
    } catch (err) {
      step.error = (err as Error).message;
      reporter.error(`rollback of ${step.kind}/${step.name} failed: ${step.error}`, 'rollback');
    }
  }
  const undone = steps.filter((s) => s.action === 'undo' && !s.error).map((s) => ({ kind: s.kind, name: s.name }));
  const allRestored = steps.every((s) => s.action !== 'undo' || !s.error);
  if (!undone.length) return { steps, healthy: allRestored };
  const outcome = await watchRollout(kubectl, namespace, undone, { timeoutMs, log: (l) => reporter.info(`  ${l}`) });
  return { steps, healthy: outcome.ok && allRestored };
}

// ---- the pipeline ----

export type Hooks = { validated?: () => Promise<void> };

export async function deploy(inputs: Inputs, ctx: RunContext, tools: Tools, hooks: Hooks = {}): Promise<RunResult> {
  const { kubectl, reporter } = tools;
  const prepared = await reporter.group('validate', () => prepare(inputs, ctx, tools));
  const { namespace } = prepared;
  await hooks.validated?.();
  const rel = await reporter.group(inputs.build && !inputs.dryRun ? 'build and push' : 'resolve image', () => release(inputs, ctx, tools));
  const { objects, changed } = render(prepared.objects, rel, ctx);
  reporter.info(`image ${rel.pinned} set in ${changed.join(', ')}`);
  const url = inputs.healthCheckUrl ?? ingressUrl(objects);
  const base: RunResult = { status: 'deployed', rolledBack: false, image: rel.pinned, digest: rel.digest, tag: inputs.tag, url, namespace, rows: [], diagnoses: [], rollback: [] };

  if (inputs.dryRun) {
    await dryRun(tools, namespace, objects, inputs.fieldManager);
    return { ...base, status: 'dry-run' };
  }

  const phases = planPhases(objects);
  const workloads = phases.flatMap(workloadsOf);
  const before = await snapshot(kubectl, namespace, workloads.map((w) => ({ kind: w.kind, name: w.metadata.name })));
  const rows = new Map<string, WorkloadRow>(before.map((s) => [workloadId(s), { workload: workloadId(s), image: '', before: s.revision, verdict: 'not reached' }]));
  for (const w of workloads) {
    const mine = imagesOf(w).filter((i) => i.endsWith(`=${rel.pinned}`)).map((i) => i.split('=')[0]);
    rows.get(workloadId({ kind: w.kind, name: w.metadata.name }))!.image = mine.join(', ') || 'unchanged';
  }
  // The rollout budget starts now: building and validating do not use it up.
  const deadline = Date.now() + inputs.timeoutSeconds * 1000;

  const finish = async (r: RunResult): Promise<RunResult> => {
    const after = new Map((await snapshot(kubectl, namespace, before)).map((s) => [workloadId(s), s.revision]));
    for (const [id, row] of rows) row.after = after.get(id);
    return { ...r, rows: [...rows.values()] };
  };

  const fail = async (reason: string, outcome?: Outcome): Promise<RunResult> => {
    reporter.error(reason, 'release failed');
    const diagnoses = outcome ? await diagnose(kubectl, namespace, failuresOf(outcome)) : [];
    for (const d of diagnoses) reporter.error(explain(d).join('\n'), `${d.workload}: ${d.reason}`);
    const detectionSeconds = outcome?.firstDoomedPodAt ? (Date.now() - outcome.firstDoomedPodAt) / 1000 : undefined;
    if (!inputs.rollback) {
      reporter.warning('rollback is off: the failed release stays in place');
      return finish({ ...base, status: 'failed', failureReason: reason, diagnoses, detectionSeconds });
    }
    const { steps, healthy } = await reporter.group('roll back', () => restore(tools, namespace, before, Math.max(60_000, inputs.timeoutSeconds * 1000)));
    const undone = steps.some((s) => s.action === 'undo' && !s.error);
    if (steps.every((s) => s.action === 'leave')) reporter.warning('first install: nothing ran before, so the resources stay for debugging');
    reporter.info('the database schema stays migrated: a rollback never runs down-migrations');
    const status = undone && healthy ? 'rolled-back' : 'failed';
    const why = undone && !healthy ? `${reason}; the restored release is not healthy` : reason;
    return finish({ ...base, status, rolledBack: undone, failureReason: why, diagnoses, rollback: steps, detectionSeconds });
  };

  for (const phase of phases) {
    try {
      await reporter.group(`apply ${phase.name}: ${phase.objects.map(objectId).join(', ')}`, async () => {
        reporter.info(await apply(kubectl, namespace, phase.objects, inputs.fieldManager));
      });
    } catch (err) {
      // Earlier phases are in: a rejected apply is a failed release like any other.
      const message = err instanceof KubectlError ? (err.result.stderr || err.result.stdout).trim() : (err as Error).message;
      return fail(`apply ${phase.name} failed: ${message}`);
    }
    const targets = targetsOf(phase);
    if (!phase.wait || !targets.length) continue;
    const phaseStart = Date.now();
    const outcome = await reporter.group(`watch ${phase.name}`, () =>
      watchRollout(kubectl, namespace, targets, { timeoutMs: Math.max(1000, deadline - Date.now()), log: (l) => reporter.info(l) }),
    );
    for (const t of targets) {
      const row = rows.get(targetId(t))!;
      const v = outcome.verdicts.get(targetId(t));
      row.seconds = (Date.now() - phaseStart) / 1000;
      row.verdict = v?.state === 'ready' ? 'ready' : (v?.message ?? 'failed');
    }
    if (!outcome.ok) {
      const first = failuresOf(outcome)[0];
      const reason = outcome.cause === 'timeout' ? `not Ready within ${inputs.timeoutSeconds}s: ${first?.failure.reason ?? 'timeout'}` : firstFailure(outcome);
      return fail(reason, outcome);
    }
  }

  if (inputs.healthCheckUrl) {
    const health = await reporter.group('health check', () => checkHealth(inputs.healthCheckUrl!, inputs.healthCheckStatus, inputs.healthCheckRetries, (l) => reporter.info(l)));
    if (!health.ok) {
      return fail(`health check ${health.url} failed after ${health.attempts} attempts: ${health.lastError ?? `status ${health.lastStatus}, want ${inputs.healthCheckStatus}`}`);
    }
  }
  if (inputs.soakSeconds > 0) {
    const targets = phases.flatMap(targetsOf);
    const outcome = await reporter.group(`soak ${inputs.soakSeconds}s`, () =>
      watchRollout(kubectl, namespace, targets, { timeoutMs: (inputs.soakSeconds + 120) * 1000, soakMs: inputs.soakSeconds * 1000, log: (l) => reporter.info(l) }),
    );
    if (!outcome.ok) return fail(`while soaking: ${firstFailure(outcome)}`, outcome);
  }
  for (const row of rows.values()) if (row.verdict === 'not reached') row.verdict = 'ready';
  return finish(base);
}

/** The public URL of the release, from the first Ingress host. */
export function ingressUrl(objects: KubeObject[]): string | undefined {
  const ingress = objects.find((o) => o.kind === 'Ingress');
  const rule = ingress?.spec?.rules?.find((r: any) => r.host);
  if (!rule) return undefined;
  const tls = (ingress!.spec.tls ?? []).some((t: any) => (t.hosts ?? []).includes(rule.host));
  return `${tls ? 'https' : 'http'}://${rule.host}`;
}

export function revisionsJson(r: RunResult): string {
  return JSON.stringify(Object.fromEntries(r.rows.map((w) => [w.workload, { before: w.before ?? null, after: w.after ?? null }])));
}
