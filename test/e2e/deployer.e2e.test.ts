// The action running as the least-privilege deployer of k8s/deployer-rbac.yaml, with its
// kubeconfig given as the `kubeconfig` input: a full deploy and a rollback succeed, and the
// identity can do nothing outside its namespace.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readManifests } from '../support/manifests.js';
import { clusterEnv, createAppNamespace, kubectl, kubectlJson, REGISTRY, tryKubectl, uniqueNamespace } from '../support/cluster.js';
import { runAction, sampleWorkspace } from '../support/action.js';

const ns = uniqueNamespace('medaudit-deployer');
let ws: string;
let kubeconfig: string;

/** deployer-rbac.yaml moved to `ns`, as an admin would apply it for that namespace. */
function deployerRbac(): string {
  const docs = readManifests('k8s/deployer-rbac.yaml');
  for (const o of docs) {
    o.metadata.namespace = ns;
    for (const rule of o.rules ?? []) if (rule.resourceNames) rule.resourceNames = rule.resourceNames.map((n: string) => (n === 'medaudit' ? ns : n));
    for (const subject of o.subjects ?? []) subject.namespace = ns;
  }
  return docs.map((d) => JSON.stringify(d)).join('\n');
}

/** A kubeconfig for the deployer's token: the cluster's server and CA, no admin certificate. */
function deployerKubeconfig(token: string): string {
  const admin = readFileSync(clusterEnv().KUBECONFIG, 'utf8');
  const server = /server:\s*(\S+)/.exec(admin)![1];
  const ca = readFileSync(/certificate-authority:\s*(\S+)/.exec(admin)![1]).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: local, cluster: {server: "${server}", certificate-authority-data: "${ca}"}}]`,
    `users: [{name: deployer, user: {token: "${token}"}}]`,
    'contexts: [{name: deployer, context: {cluster: local, user: deployer, namespace: "' + ns + '"}}]',
    'current-context: deployer',
  ].join('\n');
}

beforeAll(() => {
  ws = sampleWorkspace();
  createAppNamespace(ns);
  kubectl(['apply', '-f', '-'], { input: deployerRbac() });
  const token = kubectl(['create', 'token', 'medaudit-deployer', '-n', ns, '--duration=1h']).trim();
  kubeconfig = deployerKubeconfig(token);
});
afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const deploy = (inputs: Record<string, string>) =>
  // KUBECONFIG points nowhere: only the input may be used.
  runAction({ image: `${REGISTRY}/medaudit-backend`, namespace: ns, timeout: '4m', kubeconfig, ...inputs }, { cwd: ws, env: { KUBECONFIG: '/nonexistent' } });

test('as the deployer: a first install, then a crashing release rolled back', async () => {
  const good = await deploy({ tag: 'deployer-good' });
  expect(good.log).not.toMatch(/::error/);
  expect(good.code).toBe(0);
  expect(good.outputs.status).toBe('deployed');
  const managers = (kubectlJson(['get', 'deployment', 'backend', '-n', ns, '--show-managed-fields']).metadata.managedFields as any[]).map((f) => f.manager);
  expect(managers).toContain('medaudit-deploy');

  const bad = await deploy({ tag: 'deployer-crash', 'build-args': 'SIM_BEHAVIOUR=crash' });
  expect(bad.code).toBe(1);
  expect(bad.outputs).toMatchObject({ status: 'rolled-back', 'rolled-back': 'true' });
  expect(kubectlJson(['get', 'deployment', 'backend', '-n', ns]).spec.template.spec.containers[0].image).toBe(good.outputs.image);
  // The kubeconfig never shows in the log, and its file is gone after the run.
  const token = /token: "([^"]+)"/.exec(kubeconfig)![1];
  for (const run of [good, bad]) {
    expect(
      run.log
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    ).not.toContain(token);
  }
  for (const run of [good, bad]) expect(readdirSync(run.runnerTemp).filter((f) => f.startsWith('medaudit-kube-'))).toEqual([]);
});

test('the same credentials are refused in another namespace and for cluster-scoped writes', async () => {
  const other = await runAction(
    { image: `${REGISTRY}/medaudit-backend`, namespace: 'default', tag: 'deployer-good', build: 'false', kubeconfig },
    { cwd: ws, env: { KUBECONFIG: '/nonexistent' } },
  );
  expect(other.code).toBe(1);
  expect(other.outputs['failure-reason']).toMatch(/input 'kubeconfig': this identity may not do what deploy and rollback need: .*in default/);
  const file = path.join(ws, 'deployer.kubeconfig');
  writeFileSync(file, kubeconfig, { mode: 0o600 });
  const as = (args: string[]) => tryKubectl(args, { env: { KUBECONFIG: file } });
  expect(as(['create', 'namespace', `${ns}-x`]).stderr).toMatch(/forbidden/);
  expect(as(['create', 'clusterrole', 'x', '--verb=get', '--resource=pods']).stderr).toMatch(/forbidden/);
  expect(as(['get', 'secrets', '-n', 'kube-system']).stderr).toMatch(/forbidden/);
});
