// One release, start to end: validate, build and push, render and substitute, snapshot, apply in
// order, watch and verify, and on any failure explain it and return to exactly what ran before.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from './errors.js';
import { checkHealth } from './health/http.js';
import * as docker from './image/build.js';
import { manifestDigest } from './image/registry.js';
import { formatImageReference, parseImageReference, pinImage, type ImageReference } from './image/reference.js';
import type { Inputs } from './inputs.js';
import { clusterVersion, missingPermissions } from './kube/access.js';
import { Kubectl } from './kube/kubectl.js';
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
import { controllerRevisions, imagesOf, liveRevision, readLive, snapshot, type Snapshot } from './rollout/snapshot.js';
import type { PodFailure } from './rollout/verdict.js';
import { targetId, watchRollout, type Outcome, type Target } from './rollout/watch.js';

export type RunContext = {
  cwd: string;
  sha?: string;
  /** owner/name of the repository being released. */
  repository?: string;
  runId?: string;
  repositoryUrl?: string;
  actor?: string;
};

export type Tools = { kubectl: Kubectl; docker: docker.Docker; reporter: Reporter };

type Release = { ref: ImageReference; pinned: string; digest?: string };
type Prepared = { objects: SourcedObject[]; namespace: string; namespaceExists: boolean };

// ---- 1. validate ----

async function prepare(inputs: Inputs, ctx: RunContext, tools: Tools): Promise<Prepared> {
  const { kubectl, reporter } = tools;
  if (inputs.build && !inputs.dryRun) {
    const dockerfile = path.resolve(ctx.cwd, inputs.context, inputs.dockerfile);
    const plain = path.resolve(ctx.cwd, inputs.dockerfile);
    if (!existsSync(dockerfile) && !existsSync(plain)) throw new InputError('dockerfile', `'${inputs.dockerfile}' does not exist`);
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
  // The image must name a container before anything is built: substitute into a throwaway copy.
  const ref = parseImageReference(inputs.image);
  substituteImage(objects.map(stripSource) as KubeObject[], ref, formatImageReference({ ...ref, digest: `sha256:${'0'.repeat(64)}` }));
  const namespace = inputs.preview !== undefined ? previewNamespace(inputs.preview) : (inputs.namespace ?? manifestNamespace(objects));
  if (!namespace) {
    throw new InputError('namespace', 'the manifests name no single namespace; set the namespace input');
  }
  try {
    reporter.info(`cluster: Kubernetes ${await clusterVersion(kubectl)}`);
  } catch (err) {
    throw new InputError('kubeconfig', `the cluster does not answer: ${(err as Error).message.split('\n')[0]}`);
  }
  const namespaceExists = (await kubectl.run(['get', 'namespace', namespace, '--ignore-not-found', '-o', 'name'])).stdout.trim() !== '';
  const denied = await missingPermissions(kubectl, namespace, requiredPermissions(objects, namespaceExists));
  if (denied.length) {
    throw new InputError('kubeconfig', `this identity may not do what deploy and rollback need: ${denied.join(', ')}`);
  }
  return { objects, namespace, namespaceExists };
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
  if (creds) await docker.login(tools.docker, ref.registry ?? 'docker.io', creds.username, creds.password);
  await docker.build(
    tools.docker,
    {
      tagged,
      dockerfile: path.resolve(ctx.cwd, inputs.dockerfile),
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
  await docker.push(tools.docker, tagged, log);
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

async function apply(kubectl: Kubectl, namespace: string, objects: KubeObject[], fieldManager: string, dryRun = false): Promise<string> {
  const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
  const args = ['apply', '--server-side', `--field-manager=${fieldManager}`, '--force-conflicts', '-n', namespace, '-f', '-'];
  const r = await kubectl.run(dryRun ? [...args, '--dry-run=server'] : args, { input: list });
  return r.stdout.trim();
}

async function dryRun(tools: Tools, namespace: string, objects: KubeObject[], fieldManager: string): Promise<void> {
  const { kubectl, reporter } = tools;
  await reporter.group('server-side dry run', async () => reporter.info(await apply(kubectl, namespace, objects, fieldManager, true)));
  const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
  const diff = await kubectl.run(['diff', '--server-side', `--field-manager=${fieldManager}`, '--force-conflicts', '-n', namespace, '-f', '-'], {
    input: list,
    allowFailure: true,
  });
  // kubectl diff exits 1 when there are differences and above 1 on errors.
  if (diff.code > 1) throw new Error(`kubectl diff failed: ${diff.stderr.trim()}`);
  await reporter.group('diff against the cluster', async () => reporter.info(diff.stdout.trim() || 'no changes'));
}

// ---- 5. watch and verify ----

const targetsOf = (phase: Phase): Target[] => workloadsOf(phase).map((w) => ({ kind: w.kind, name: w.metadata.name }));

async function liveRevisions(kubectl: Kubectl, namespace: string, snaps: Snapshot[]): Promise<Map<string, number | undefined>> {
  const history = snaps.some((s) => s.kind !== 'Deployment') ? await controllerRevisions(kubectl, namespace).catch(() => []) : [];
  const out = new Map<string, number | undefined>();
  for (const s of snaps) {
    const live = await readLive(kubectl, namespace, s.kind, s.name);
    out.set(`${s.kind}/${s.name}`, live ? liveRevision(live, history) : undefined);
  }
  return out;
}

function failuresOf(outcome: Outcome): { workload: string; failure: PodFailure }[] {
  return [...outcome.verdicts.entries()].flatMap(([workload, v]) => (v.state === 'failed' ? v.failures.map((failure) => ({ workload, failure })) : []));
}

// ---- 6. explain and restore ----

async function restore(tools: Tools, namespace: string, snaps: Snapshot[], timeoutMs: number): Promise<{ steps: RollbackStep[]; healthy: boolean }> {
  const { kubectl, reporter } = tools;
  const steps = planRollback(snaps, await liveRevisions(kubectl, namespace, snaps));
  for (const step of steps) {
    reporter.info(`rollback ${describeStep(step)}`);
    if (step.action !== 'undo') continue;
    await undo(kubectl, namespace, step);
    if (step.kind === 'StatefulSet') {
      const deleted = await unstickStatefulSet(kubectl, namespace, step.name);
      if (deleted.length) reporter.info(`deleted pods stuck on the failed revision: ${deleted.join(', ')}`);
    }
  }
  const undone = steps.filter((s) => s.action === 'undo').map((s) => ({ kind: s.kind, name: s.name }));
  if (!undone.length) return { steps, healthy: true };
  const outcome = await watchRollout(kubectl, namespace, undone, { timeoutMs, log: (l) => reporter.info(`  ${l}`) });
  return { steps, healthy: outcome.ok };
}

// ---- the pipeline ----

export async function deploy(inputs: Inputs, ctx: RunContext, tools: Tools): Promise<RunResult> {
  const { kubectl, reporter } = tools;
  const started = Date.now();
  const deadline = started + inputs.timeoutSeconds * 1000;

  const prepared = await reporter.group('validate', () => prepare(inputs, ctx, tools));
  const { namespace } = prepared;
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
  const snaps = await snapshot(kubectl, namespace, workloads);
  const rows = new Map<string, WorkloadRow>(
    snaps.map((s) => [`${s.kind}/${s.name}`, { workload: `${s.kind}/${s.name}`, image: '', before: s.revision, verdict: 'not reached' }]),
  );
  for (const w of workloads) rows.get(objectId({ kind: w.kind, metadata: { name: w.metadata.name } }))!.image = imagesOf(w).filter((i) => i.includes(rel.pinned)).map((i) => i.split('=')[0]).join(', ') || 'unchanged';

  const fail = async (reason: string, outcome?: Outcome): Promise<RunResult> => {
    reporter.error(reason, 'release failed');
    const diagnoses = outcome ? await diagnose(kubectl, namespace, failuresOf(outcome)) : [];
    for (const d of diagnoses) {
      reporter.error(explain(d).join('\n'), `${d.workload}: ${d.reason}`);
    }
    const detectionSeconds = outcome?.firstDoomedPodAt ? (Date.now() - outcome.firstDoomedPodAt) / 1000 : undefined;
    if (!inputs.rollback) {
      reporter.warning('rollback is off: the failed release stays in place');
      return finish({ ...base, status: 'failed', failureReason: reason, diagnoses, detectionSeconds });
    }
    const { steps, healthy } = await reporter.group('roll back', () => restore(tools, namespace, snaps, Math.max(60_000, inputs.timeoutSeconds * 1000)));
    const undone = steps.some((s) => s.action === 'undo');
    if (steps.every((s) => s.action === 'leave')) reporter.warning('first install: nothing ran before, so the resources stay for debugging');
    reporter.info('the database schema stays migrated: a rollback never runs down-migrations');
    const status = undone && healthy ? 'rolled-back' : 'failed';
    const why = undone && !healthy ? `${reason}; the restored release did not become healthy` : reason;
    return finish({ ...base, status, rolledBack: undone, failureReason: why, diagnoses, rollback: steps, detectionSeconds });
  };

  const finish = async (r: RunResult): Promise<RunResult> => {
    const after = await liveRevisions(kubectl, namespace, snaps);
    for (const [id, row] of rows) row.after = after.get(id);
    return { ...r, rows: [...rows.values()] };
  };

  for (const phase of phases) {
    await reporter.group(`apply ${phase.name}: ${phase.objects.map(objectId).join(', ')}`, async () => {
      reporter.info(await apply(kubectl, namespace, phase.objects, inputs.fieldManager));
    });
    const targets = targetsOf(phase);
    if (!phase.wait || !targets.length) continue;
    const phaseStart = Date.now();
    const outcome = await reporter.group(`watch ${phase.name}`, () =>
      watchRollout(kubectl, namespace, targets, { timeoutMs: Math.max(1000, deadline - Date.now()), log: (l) => reporter.info(l) }),
    );
    for (const t of targets) {
      const row = rows.get(targetId(t))!;
      row.seconds = (Date.now() - phaseStart) / 1000;
      row.verdict = outcome.verdicts.get(targetId(t))?.state === 'ready' ? 'ready' : outcome.verdicts.get(targetId(t))?.message ?? 'failed';
    }
    if (!outcome.ok) {
      const first = failuresOf(outcome)[0];
      const reason = outcome.cause === 'timeout' ? `not Ready within ${inputs.timeoutSeconds}s: ${first?.failure.reason ?? 'timeout'}` : `${first.workload}: ${first.failure.reason}: ${first.failure.message}`;
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
    if (!outcome.ok) {
      const first = failuresOf(outcome)[0];
      return fail(`while soaking: ${first ? `${first.workload}: ${first.failure.reason}: ${first.failure.message}` : 'the release degraded'}`, outcome);
    }
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
