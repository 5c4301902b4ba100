// npm run bench: figures on the local cluster, this action next to bare kubectl, side by side in one
// run (each pair alternates which goes first, so neither always meets a busier machine):
//  (a) upgrade of the running release: a new image through shipped k8s/, next to `kubectl apply` of
//      the same objects and `kubectl rollout status` of each workload; median of PAIRS pairs;
//  (b) first install of k8s/ into a fresh namespace, the same way;
//  (c) crash detection: seconds from the first doomed pod's start to the start of the rollback, for
//      each failure allowance, next to what `kubectl rollout status` reports in a bounded wait;
//  (d) start-up: `node dist/index.js` to its first API call (a kubectl shim on PATH notes the time);
//  (e) render + substitute of 5,000 objects, in process, with the kubectl processes rendering needs.
// The kubectl processes each run started are read from the line the action prints at its end.
// `node lib/scripts/bench.js upgrade install ...` runs some of them only.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { parseImageReference } from '../src/image/reference.js';
import { Kubectl } from '../src/kube/kubectl.js';
import { loadManifests, stripSource } from '../src/manifests/render.js';
import { annotateConfigChecksums, annotateWorkloads, leaveReplicasToScalers, substituteImage } from '../src/manifests/substitute.js';
import { validateObjects } from '../src/manifests/validate.js';
import { renderKustomize } from '../test/support/manifests.js';
import { clusterEnv, kubectl, kubectlJson, REGISTRY, REPO, createAppNamespace, uniqueNamespace } from '../test/support/cluster.js';
import { runAction, sampleWorkspace, startAction, type ActionRun } from '../test/support/action.js';
import { behaviourImage } from '../test/support/sim.js';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 3);
const REPOSITORY = 'medaudit-backend';
const IMAGE = `${REGISTRY}/${REPOSITORY}`;
const WORKLOADS = ['statefulset/postgres', 'statefulset/redis', 'deployment/backend', 'deployment/celery-worker'];
/** How long `kubectl rollout status` is given to report a crash-looping release. */
const KUBECTL_DETECTION_WAIT_S = Number(process.env.BENCH_KUBECTL_WAIT ?? 90);

const seconds = (ms: number) => (ms / 1000).toFixed(1);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const row = (cells: (string | number)[]) => console.log(`| ${cells.join(' | ')} |`);

function freshNamespace(prefix: string): string {
  const ns = uniqueNamespace(prefix);
  createAppNamespace(ns);
  return ns;
}

/** `kubectl rollout status`, timed; its exit code says whether it saw success. */
function rolloutStatus(ns: string, resource: string, timeout: string): { ms: number; code: number; last: string } {
  const t0 = Date.now();
  const r = spawnSync('kubectl', ['rollout', 'status', resource, '-n', ns, `--timeout=${timeout}`], { env: clusterEnv(), encoding: 'utf8' });
  const lines = `${r.stdout}${r.stderr}`.trim().split('\n');
  return { ms: Date.now() - t0, code: r.status ?? 1, last: lines[lines.length - 1] };
}

/** k8s/ rendered, moved to `ns`, with the image set: what a hand-written pipeline would apply. */
function renderedFor(ns: string, image: string): string {
  const docs = renderKustomize('k8s');
  for (const o of docs) {
    if (o.kind === 'Namespace') o.metadata.name = ns;
    else o.metadata.namespace = ns;
    for (const c of [...(o.spec?.template?.spec?.initContainers ?? []), ...(o.spec?.template?.spec?.containers ?? [])]) {
      if (c.image === 'medaudit-backend:latest') c.image = image;
    }
  }
  return docs.map((d) => YAML.stringify(d, { version: '1.1' })).join('---\n');
}

/** The digest the registry holds for a tag, as repository@digest: what the action pins. */
async function pinned(tag: string): Promise<string> {
  const res = await fetch(`http://${REGISTRY}/v2/${REPOSITORY}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  const digest = res.headers.get('docker-content-digest');
  if (!res.ok || !digest) throw new Error(`${tag} is not in the registry`);
  return `${IMAGE}@${digest}`;
}

/** A plain pipeline: apply everything, then `rollout status` of each workload in turn. */
function bareKubectl(ns: string, image: string): number {
  const t0 = Date.now();
  kubectl(['apply', '-f', '-'], { input: renderedFor(ns, image) });
  for (const w of WORKLOADS) {
    const r = rolloutStatus(ns, w, '5m');
    if (r.code !== 0) throw new Error(`kubectl rollout status ${w}: ${r.last}`);
  }
  return Date.now() - t0;
}

/** The kubectl processes a run started, from the line it prints at its end. */
const kubectlCount = (run: ActionRun) => /kubectl processes: (\d+) \(([^)]*)\)/.exec(run.log)?.slice(1, 3) ?? ['?', ''];

async function actionRun(ws: string, inputs: Record<string, string>): Promise<ActionRun> {
  const run = await runAction({ image: IMAGE, build: 'false', timeout: '5m', ...inputs }, { cwd: ws });
  if (run.code !== 0) throw new Error(`the action failed: ${run.outputs['failure-reason']}`);
  return run;
}

type Pair = { action: number; kubectl: number; processes: string[] };

/** PAIRS pairs, alternating which of the two goes first. */
async function pairs(measure: (first: 'action' | 'kubectl', i: number) => Promise<Pair>): Promise<Pair[]> {
  const out: Pair[] = [];
  for (let i = 0; i < PAIRS; i++) out.push(await measure(i % 2 ? 'kubectl' : 'action', i));
  return out;
}

function report(name: string, results: Pair[]): void {
  const a = median(results.map((r) => r.action));
  const k = median(results.map((r) => r.kubectl));
  const each = results.map((r) => `${seconds(r.action)}/${seconds(r.kubectl)}`).join(', ');
  row([name, `${seconds(a)} s`, `${seconds(k)} s`, (a / k).toFixed(2), each]);
}

type Images = { good: string[]; crash: string };

/** Two healthy releases to alternate between, and a crash-looping one; built once, pushed to the local registry. */
function buildImages(): Images {
  for (const [tag, args] of [
    ['bench-a', { SIM_MESSAGE: 'bench a' }],
    ['bench-b', { SIM_MESSAGE: 'bench b' }],
    ['bench-crash', { SIM_BEHAVIOUR: 'crash' }],
  ] as const)
    behaviourImage(REPOSITORY, tag, args);
  return { good: ['bench-a', 'bench-b'], crash: 'bench-crash' };
}

type Installed = { action: string; kubectl: string; tag: string };

async function firstInstall(ws: string, images: Images, keep: (i: Installed) => void): Promise<Pair[]> {
  const tag = images.good[0];
  const image = await pinned(tag);
  return pairs(async (first, i) => {
    const a = freshNamespace('bench-install-action');
    const b = freshNamespace('bench-install-kubectl');
    let run!: ActionRun;
    let plain = 0;
    const action = async () => void (run = await actionRun(ws, { tag, namespace: a }));
    const bare = async () => void (plain = bareKubectl(b, image));
    for (const step of first === 'action' ? [action, bare] : [bare, action]) await step();
    // The last pair's namespaces are the releases the upgrades start from.
    if (i === PAIRS - 1) keep({ action: a, kubectl: b, tag });
    else for (const ns of [a, b]) kubectl(['delete', 'namespace', ns, '--wait=false']);
    return { action: run.ms, kubectl: plain, processes: kubectlCount(run) };
  });
}

async function upgrade(ws: string, images: Images, on: Installed): Promise<Pair[]> {
  let current = on.tag;
  return pairs(async (first) => {
    const tag = images.good.find((t) => t !== current)!;
    current = tag;
    const image = await pinned(tag);
    let run!: ActionRun;
    let plain = 0;
    const action = async () => void (run = await actionRun(ws, { tag, namespace: on.action }));
    const bare = async () => void (plain = bareKubectl(on.kubectl, image));
    for (const step of first === 'action' ? [action, bare] : [bare, action]) await step();
    return { action: run.ms, kubectl: plain, processes: kubectlCount(run) };
  });
}

/** The input that sets how many failures a new pod may show before the release fails, if this action has it. */
function failureAllowanceInput(): string | undefined {
  const inputs = YAML.parse(readFileSync(path.join(REPO, 'action.yml'), 'utf8')).inputs as Record<string, unknown>;
  return 'failures-allowed' in inputs ? 'failures-allowed' : undefined;
}

async function detection(ws: string, images: Images, on: Installed): Promise<void> {
  const allowance = failureAllowanceInput();
  const variants: { label: string; inputs?: Record<string, string> }[] = [
    { label: 'default failure allowance', inputs: {} },
    { label: 'failure allowance 0', inputs: allowance ? { [allowance]: '0' } : undefined },
  ];
  for (const v of variants) {
    if (!v.inputs) {
      row([`medaudit-deploy, ${v.label}`, 'n/a: this action has no failure-allowance input yet', '']);
      continue;
    }
    const detected: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const run = await runAction({ image: IMAGE, build: 'false', namespace: on.action, tag: images.crash, timeout: '10m', ...v.inputs }, { cwd: ws });
      if (run.outputs.status !== 'rolled-back') throw new Error(`the crash-looping release ended ${run.outputs.status}: ${run.outputs['failure-reason']}`);
      detected.push(Number(/Failure detected ([\d.]+) s/.exec(run.summary)?.[1]));
    }
    row([`medaudit-deploy, ${v.label}`, `${median(detected).toFixed(1)} s`, detected.map((d) => d.toFixed(1)).join(', ')]);
  }
  // The same broken image, the way a plain pipeline ships it; then put back as it was.
  kubectl(['apply', '-f', '-'], { input: renderedFor(on.kubectl, await pinned(images.crash)) });
  const r = rolloutStatus(on.kubectl, 'deployment/backend', `${KUBECTL_DETECTION_WAIT_S}s`);
  const deadline = kubectlJson(['get', 'deployment', 'backend', '-n', on.kubectl]).spec.progressDeadlineSeconds;
  const said = r.code === 0 ? 'reported success' : `exit ${r.code} after ${seconds(r.ms)} s ("${r.last}")`;
  row([
    '`kubectl rollout status`',
    `none within ${KUBECTL_DETECTION_WAIT_S} s`,
    `${said}; it fails only on ProgressDeadlineExceeded, ${deadline} s (progressDeadlineSeconds) after the rollout stalls`,
  ]);
  kubectl(['rollout', 'undo', 'deployment/backend', '-n', on.kubectl]);
}

/** A kubectl first on PATH that notes the time of each call, then runs the real one. */
function kubectlShim(): { dir: string; log: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-shim-'));
  const log = path.join(dir, 'calls.log');
  const real = spawnSync('sh', ['-c', 'command -v kubectl'], { env: clusterEnv(), encoding: 'utf8' }).stdout.trim();
  writeFileSync(path.join(dir, 'kubectl'), `#!/bin/sh\necho "$(date +%s%3N) $*" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(path.join(dir, 'kubectl'), 0o755);
  return { dir, log };
}

/** From `node dist/index.js` to its first call to the API server (local kubectl calls carry no request timeout). */
async function startUp(ws: string, on: Installed): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const shim = kubectlShim();
    writeFileSync(shim.log, '');
    const env = { PATH: `${shim.dir}:${clusterEnv().PATH}` };
    const t0 = Date.now();
    const run = startAction({ image: IMAGE, build: 'false', namespace: on.action, tag: on.tag, 'dry-run': 'true' }, { cwd: ws, env });
    await run.done;
    const first = readFileSync(shim.log, 'utf8')
      .split('\n')
      .find((l) => l.includes('--request-timeout'));
    if (!first) throw new Error('the action called no API');
    times.push(Number(first.split(' ')[0]) - t0);
  }
  row(['start-up: `node dist/index.js` to the first API call', `${median(times).toFixed(0)} ms`, times.join(', ')]);
}

/** k8s/ repeated under other names until it holds `count` objects: one YAML file, and a kustomization of it. */
function manyObjects(count: number): { plain: string; kustomized: string } {
  const base = renderKustomize('k8s').filter((o) => o.kind !== 'Namespace');
  const docs: unknown[] = [];
  for (let i = 0; docs.length < count; i++) {
    for (const o of base.slice(0, count - docs.length)) docs.push({ ...o, metadata: { ...o.metadata, name: `${o.metadata.name}-${i}` } });
  }
  const plain = mkdtempSync(path.join(os.tmpdir(), 'bench-render-'));
  writeFileSync(path.join(plain, 'all.yaml'), docs.map((d) => YAML.stringify(d)).join('---\n'));
  const kustomized = mkdtempSync(path.join(os.tmpdir(), 'bench-kustomize-'));
  writeFileSync(path.join(kustomized, 'all.yaml'), readFileSync(path.join(plain, 'all.yaml')));
  writeFileSync(path.join(kustomized, 'kustomization.yaml'), 'resources:\n  - all.yaml\n');
  return { plain, kustomized };
}

/** The pipeline's render stage: read (kubectl parses, or kustomize renders), validate, substitute, annotate. */
async function renderOnce(dir: string, count: number): Promise<{ ms: number; parseMs: number; processes: number }> {
  const kube = new Kubectl('kubectl', { env: clusterEnv() });
  const image = `${IMAGE}@sha256:${'0'.repeat(64)}`;
  const t0 = performance.now();
  const objects = await loadManifests(kube, [dir], '/');
  const parsed = performance.now();
  validateObjects(objects);
  const { objects: substituted } = substituteImage(objects.map(stripSource), parseImageReference(IMAGE), image);
  leaveReplicasToScalers(annotateConfigChecksums(annotateWorkloads(substituted, { 'medaudit.io/image': image })));
  const ms = performance.now() - t0;
  if (objects.length !== count) throw new Error(`rendered ${objects.length} objects, not ${count}`);
  return { ms, parseMs: parsed - t0, processes: kube.count.total };
}

// kustomize itself grows much faster than linearly with the number of objects: minutes for 5,000,
// the same for `kubectl apply -k`. Measured once, and only when asked (BENCH_KUSTOMIZE=1).
async function render(): Promise<void> {
  const count = 5000;
  const dirs = manyObjects(count);
  const runs: { ms: number; parseMs: number; processes: number }[] = [];
  for (let i = 0; i < PAIRS; i++) runs.push(await renderOnce(dirs.plain, count));
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const parse = median(runs.map((r) => r.parseMs));
  const own = median(runs.map((r) => r.ms - r.parseMs));
  const processes = `${runs[0].processes} kubectl process${runs[0].processes === 1 ? '' : 'es'}`;
  const detail = `kubectl's parse (${processes}) ${s(parse)} s, then validate + substitute + annotate ${s(own)} s; ${runs.map((r) => s(r.ms)).join(', ')}`;
  row([`render + substitute of ${count} objects (YAML files)`, `${s(median(runs.map((r) => r.ms)))} s`, detail]);
  if (process.env.BENCH_KUSTOMIZE !== '1') return;
  const k = await renderOnce(dirs.kustomized, count);
  row([`render + substitute of ${count} objects (one kustomization)`, `${(k.ms / 1000).toFixed(1)} s`, `${k.processes} kubectl processes, measured once`]);
}

async function main(): Promise<void> {
  const only = new Set(process.argv.slice(2));
  const wants = (part: string) => !only.size || only.has(part);
  const ws = sampleWorkspace();
  const nodes = kubectlJson(['get', 'nodes']).items.length;
  console.log(
    `local cluster: ${nodes} simulated nodes, Kubernetes ${kubectlJson(['version']).serverVersion.gitVersion}; ${os.cpus().length} cores, ${os.cpus()[0]?.model}`,
  );
  console.log(
    `load average at the start: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}; ${PAIRS} pairs each\n`,
  );
  let installed: Installed | undefined;
  const deployments = wants('install') || wants('upgrade') || wants('detect') || wants('startup');
  const images = deployments ? buildImages() : undefined;
  if (images) {
    console.log('| case | medaudit-deploy (median) | kubectl apply + rollout status (median) | ratio | each pair (action/kubectl) |');
    console.log('|---|---|---|---|---|');
    const install = await firstInstall(ws, images, (i) => (installed = i));
    if (wants('install')) report('first install of k8s/', install);
    if (wants('upgrade')) {
      const up = await upgrade(ws, images, installed!);
      report('upgrade: a new image through k8s/', up);
      console.log(`\nkubectl processes per run: first install ${install[0].processes.join(' (')}); upgrade ${up[0].processes.join(' (')})`);
    }
  }
  console.log('\n| figure | value (median) | detail |');
  console.log('|---|---|---|');
  if (images && wants('detect')) await detection(ws, images, installed!);
  if (wants('startup')) await startUp(ws, installed!);
  if (wants('render')) await render();
  if (installed) for (const ns of [installed.action, installed.kubectl]) kubectl(['delete', 'namespace', ns, '--wait=false']);
}

main().catch((err) => {
  console.error(`bench failed: ${err.message}`);
  process.exit(1);
});
