// npm run bench: figures on the local cluster.
//  (a) a crash-looping release: seconds from its first pod to the start of the rollback, next to
//      how long `kubectl rollout status` takes to report the same release;
//  (b) a successful first install: the action's wall time next to bare `kubectl apply` of the
//      same objects followed by `kubectl rollout status` of each workload.
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { renderKustomize } from '../test/support/manifests.js';
import { clusterEnv, kubectl, kubectlJson, REGISTRY, createAppNamespace, uniqueNamespace } from '../test/support/cluster.js';
import { runAction, sampleWorkspace } from '../test/support/action.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
const seconds = (ms: number) => (ms / 1000).toFixed(1);

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

async function detection(ws: string): Promise<void> {
  console.log('\n(a) detecting a crash-looping release');
  const ns = freshNamespace('bench-detect');
  const good = await runAction({ image: IMAGE, namespace: ns, tag: 'bench-good', timeout: '5m' }, { cwd: ws });
  if (good.code !== 0) throw new Error(`install failed: ${good.outputs['failure-reason']}`);
  const bad = await runAction({ image: IMAGE, namespace: ns, tag: 'bench-crash', timeout: '15m', 'build-args': 'SIM_BEHAVIOUR=crash' }, { cwd: ws });
  const detected = Number(/Failure detected ([\d.]+) s/.exec(bad.summary)?.[1]);
  console.log(
    `    medaudit-deploy: failure detected ${detected.toFixed(1)} s after the first doomed pod; status ${bad.outputs.status}; whole run ${seconds(bad.ms)} s`,
  );
  // The same broken image, the way a plain pipeline ships it.
  kubectl(['set', 'image', 'deployment/backend', `backend=${bad.outputs.image}`, `migrate=${bad.outputs.image}`, '-n', ns]);
  const kubectlRun = rolloutStatus(ns, 'deployment/backend', '15m');
  console.log(`    kubectl rollout status: exit ${kubectlRun.code} after ${seconds(kubectlRun.ms)} s ("${kubectlRun.last}")`);
  console.log(`    => ${(kubectlRun.ms / 1000 / detected).toFixed(0)}x sooner`);
  kubectl(['delete', 'namespace', ns, '--wait=false']);
}

async function deployTime(ws: string): Promise<void> {
  console.log('\n(b) a successful first install of k8s/');
  const a = freshNamespace('bench-action');
  const run = await runAction({ image: IMAGE, namespace: a, tag: 'bench-good', build: 'false', timeout: '5m' }, { cwd: ws });
  if (run.code !== 0) throw new Error(`deploy failed: ${run.outputs['failure-reason']}`);
  console.log(`    medaudit-deploy (validate, resolve digest, ordered apply, watch): ${seconds(run.ms)} s`);
  const b = freshNamespace('bench-kubectl');
  const t0 = Date.now();
  kubectl(['apply', '-f', '-'], { input: renderedFor(b, run.outputs.image) });
  for (const w of ['statefulset/postgres', 'statefulset/redis', 'deployment/backend', 'deployment/celery-worker']) {
    const r = rolloutStatus(b, w, '5m');
    if (r.code !== 0) throw new Error(`${w}: ${r.last}`);
  }
  const plain = Date.now() - t0;
  console.log(`    kubectl apply + rollout status of each workload: ${seconds(plain)} s`);
  console.log(`    => ratio ${(run.ms / plain).toFixed(2)} (medaudit-deploy / kubectl)`);
  for (const ns of [a, b]) kubectl(['delete', 'namespace', ns, '--wait=false']);
}

async function main(): Promise<void> {
  const ws = sampleWorkspace();
  const nodes = kubectlJson(['get', 'nodes']).items.length;
  console.log(`local cluster: ${nodes} nodes, Kubernetes ${kubectlJson(['version']).serverVersion.gitVersion}`);
  // Detection first: it builds and pushes bench-good, which the timed install then deploys.
  await detection(ws);
  await deployTime(ws);
}

main().catch((err) => {
  console.error(`bench failed: ${err.message}`);
  process.exit(1);
});
