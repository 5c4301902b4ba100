// dry-run through the action and through the CLI: validation, a server-side dry run and the diff
// against the cluster, and nothing built, pushed or changed.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clusterEnv, createAppNamespace, kubectl, kubectlJson, REGISTRY, REPO, uniqueNamespace } from '../support/cluster.js';
import { runAction, sampleWorkspace } from '../support/action.js';

const ns = uniqueNamespace('medaudit-dry');
let ws: string;

const state = () => {
  const items = kubectlJson(['get', 'deployments,statefulsets,configmaps,secrets,services', '-n', ns]).items as any[];
  return Object.fromEntries(items.map((o) => [`${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]));
};
const tags = async () => {
  const res = await fetch(`http://${REGISTRY}/v2/medaudit-backend/tags/list`);
  return res.ok ? (((await res.json()) as any).tags ?? []) : [];
};

beforeAll(() => {
  ws = sampleWorkspace();
  createAppNamespace(ns);
});
afterAll(() => {
  kubectl(['delete', 'namespace', ns, '--wait=false']);
});

test('the action: server-side dry run and diff, nothing built, pushed or applied', async () => {
  const before = state();
  const run = await runAction({ image: `${REGISTRY}/medaudit-backend`, tag: 'dry-run-never-built', namespace: ns, 'dry-run': 'true' }, { cwd: ws });
  expect(run.code).toBe(0);
  expect(run.outputs.status).toBe('dry-run');
  expect(run.log).toMatch(/deployment\.apps\/backend serverside-applied \(server dry run\)/);
  expect(run.log).toMatch(/::group::diff against the cluster/);
  expect(run.log).toMatch(/\+\s+image: 127\.0\.0\.1:5000\/medaudit-backend:dry-run-never-built/);
  expect(run.log).not.toMatch(/docker build|pushed /);
  expect(state()).toEqual(before);
  // Other files push to the same repository meanwhile: only this run's own tag tells.
  expect(await tags()).not.toContain('dry-run-never-built');
});

/** The objects kustomize renders from a directory of the repository, as Kind/name. */
const rendered = (dir: string) =>
  kubectl(['kustomize', '--load-restrictor=LoadRestrictionsNone', path.join(REPO, dir)])
    .split(/^---$/m)
    .map((doc) => [/^kind: (\S+)$/m.exec(doc)?.[1], /^ {2}name: (\S+)$/m.exec(doc)?.[1]])
    .filter(([kind, name]) => kind && name);

test.each([
  ['k8s/', {}, 'k8s'],
  ['the preview overlay', { preview: '987654', 'preview-domain': 'preview.example.com' }, 'k8s/overlays/preview'],
] as const)('a first install dry run of %s: every object checked and shown as created, nothing created', async (_name, extra, dir) => {
  const fresh = 'preview' in extra ? 'medaudit-pr-987654' : uniqueNamespace('medaudit-dry-first');
  const inputs: Record<string, string> = { image: `${REGISTRY}/medaudit-backend`, tag: 'dry-run-first', 'dry-run': 'true', ...extra };
  if (!('preview' in extra)) inputs.namespace = fresh;
  const run = await runAction(inputs, { cwd: ws });
  expect(run.code).toBe(0);
  expect(run.outputs.status).toBe('dry-run');
  expect(run.log).toContain(`namespace ${fresh} does not exist yet: every object would be created`);
  expect(run.log).toContain(`namespace/${fresh} serverside-applied (server dry run)`);
  const created = run.log.split('\n').filter((l) => l.startsWith('created '));
  const objects = rendered(dir);
  expect(created.length).toBeGreaterThanOrEqual(objects.length);
  for (const [kind, name] of objects) {
    expect(created.some((l) => l.startsWith(`created ${kind}/`) && l.endsWith(`/${kind === 'Namespace' ? fresh : name}`))).toBe(true);
  }
  expect(run.log).toMatch(/^\+ +"image": "127\.0\.0\.1:5000\/medaudit-backend:dry-run-first",?$/m);
  expect(kubectl(['get', 'namespace', fresh, '--ignore-not-found', '-o', 'name']).trim()).toBe('');
});

test('the CLI runs the same pipeline: --help, a bad flag, and a dry run', () => {
  const cli = path.join(REPO, 'dist', 'cli', 'index.js');
  const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/usage: medaudit-deploy/);
  expect(help.stdout).toMatch(/--health-check-url/);
  const bad = spawnSync(process.execPath, [cli, 'deploy', '--imagee', 'x'], { encoding: 'utf8' });
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/unknown flag --imagee/);
  const before = state();
  const dry = spawnSync(process.execPath, [cli, 'deploy', '--image', `${REGISTRY}/medaudit-backend`, '--tag', 'dry-run-cli', '--namespace', ns, '--dry-run'], {
    cwd: ws,
    env: clusterEnv(),
    encoding: 'utf8',
  });
  expect(dry.status).toBe(0);
  expect(dry.stdout).toMatch(/^status=dry-run$/m);
  expect(dry.stdout).toMatch(/== diff against the cluster/);
  expect(state()).toEqual(before);
});

/** A download site for kubectl on loopback, as dl.k8s.io lays it out; `sum` is what it publishes. */
async function kubectlSite(sum?: string): Promise<{ url: string; close: () => void; hits: string[] }> {
  const binary = readFileSync(realpathSync(path.join(clusterEnv().MEDAUDIT_CLUSTER_DIR, 'bin', 'kubectl')));
  const real = createHash('sha256').update(binary).digest('hex');
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/v1.34.4/bin/linux/amd64/kubectl') return void res.end(binary);
    if (req.url === '/v1.34.4/bin/linux/amd64/kubectl.sha256') return void res.end(sum ?? real);
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close(), hits };
}

test('kubectl-version: installed through the tool cache only when its sha256 matches', async () => {
  const inputs = { image: `${REGISTRY}/medaudit-backend`, tag: 'dry-run-kubectl', namespace: ns, 'dry-run': 'true', 'kubectl-version': 'v1.34.4' };
  const good = await kubectlSite();
  try {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'medaudit-toolcache-'));
    const run = await runAction(inputs, { cwd: ws, env: { MEDAUDIT_KUBECTL_BASE_URL: good.url, RUNNER_TOOL_CACHE: cache } });
    expect(run.code).toBe(0);
    expect(run.log).toMatch(/kubectl v1\.34\.4 verified \(sha256 [0-9a-f]{12}/);
    expect(good.hits).toEqual(['/v1.34.4/bin/linux/amd64/kubectl', '/v1.34.4/bin/linux/amd64/kubectl.sha256']);
  } finally {
    good.close();
  }
  const tampered = await kubectlSite('0'.repeat(64));
  try {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'medaudit-toolcache-'));
    const before = state();
    const run = await runAction(inputs, { cwd: ws, env: { MEDAUDIT_KUBECTL_BASE_URL: tampered.url, RUNNER_TOOL_CACHE: cache } });
    expect(run.code).toBe(1);
    expect(run.outputs['failure-reason']).toMatch(/kubectl v1\.34\.4: sha256 mismatch .* refusing to run it/);
    expect(state()).toEqual(before);
  } finally {
    tampered.close();
  }
});
