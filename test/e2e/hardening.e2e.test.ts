// What the action keeps to itself and what it refuses: no INPUT_* variable (secrets among them)
// reaches kubectl or docker; a terminal with GITHUB_TOKEN set but no GITHUB_REPOSITORY deploys; a
// user's kustomization may not load files from outside its own directory.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAction, sampleWorkspace } from '../support/action.js';
import { clusterEnv, REGISTRY, REPO, tryKubectl, uniqueNamespace } from '../support/cluster.js';

const IMAGE = `${REGISTRY}/medaudit-backend`;
let ws: string;
const fresh = uniqueNamespace('wf-hardening');

beforeAll(() => {
  ws = sampleWorkspace();
});
afterAll(() => {
  tryKubectl(['delete', 'namespace', fresh, '--wait=false', '--ignore-not-found']);
});

/** kubectl and docker that write down every INPUT_* variable they were started with, then run the real ones. */
function recordingTools(): { dir: string; calls: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-tools-'));
  const calls = path.join(dir, 'calls.log');
  writeFileSync(calls, '');
  const env = clusterEnv();
  for (const tool of ['kubectl', 'docker']) {
    const real = spawnSync('bash', ['-c', `command -v ${tool}`], { env, encoding: 'utf8' }).stdout.trim();
    const script = `#!/bin/sh\necho "${tool} $1" >> '${calls}'\nenv | grep '^INPUT_' >> '${calls}' || true\nexec '${real}' "$@"\n`;
    writeFileSync(path.join(dir, tool), script);
    chmodSync(path.join(dir, tool), 0o755);
  }
  return { dir, calls };
}

describe('child processes', () => {
  test('kubectl and docker never see the INPUT_* variables, the secret ones included', async () => {
    const tools = recordingTools();
    const env = { PATH: `${tools.dir}:${clusterEnv().PATH}` };
    const secret = { 'registry-username': 'wf-user', 'registry-password': 'wf-input-secret' };
    const built = await runAction({ command: 'build', image: IMAGE, tag: 'wf-child-env', ...secret }, { cwd: ws, env });
    expect(built.code).toBe(0);
    const dryRun = await runAction({ image: IMAGE, tag: 'wf-child-env', namespace: fresh, 'dry-run': 'true', ...secret }, { cwd: ws, env });
    expect(dryRun.code).toBe(0);
    const calls = readFileSync(tools.calls, 'utf8');
    // Both tools ran, docker with the login that used the secret on its standard input.
    expect(calls).toMatch(/^docker login$/m);
    expect(calls).toMatch(/^docker build$/m);
    expect(calls).toMatch(/^kubectl /m);
    expect(calls).not.toMatch(/INPUT_/);
    expect(calls).not.toContain('wf-input-secret');
  });
});

describe('the CLI', () => {
  test('GITHUB_TOKEN set without GITHUB_REPOSITORY: a deploy never needs GitHub and runs', () => {
    const env: Record<string, string> = { ...clusterEnv(), GITHUB_TOKEN: 'wf-terminal-token' };
    delete env.GITHUB_REPOSITORY;
    const r = spawnSync(
      process.execPath,
      [path.join(REPO, 'dist', 'cli', 'index.js'), 'deploy', '--image', IMAGE, '--tag', 'wf-cli', '--namespace', fresh, '--dry-run'],
      { cwd: ws, env, encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).not.toMatch(/GITHUB_REPOSITORY/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^status=dry-run$/m);
  });
});

describe("kustomize's load restriction", () => {
  test("a user's kustomization that loads a file from outside its directory is refused, naming it", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-kustomize-'));
    mkdirSync(path.join(dir, 'app'));
    writeFileSync(path.join(dir, 'outside.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\ndata:\n  a: b\n');
    writeFileSync(
      path.join(dir, 'app', 'kustomization.yaml'),
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../outside.yaml\n',
    );
    const run = await runAction({ image: IMAGE, tag: 'wf-kustomize', namespace: fresh, 'dry-run': 'true', manifests: path.join(dir, 'app') }, { cwd: ws });
    expect(run.code).toBe(1);
    expect(run.outputs['failure-reason']).toMatch(/kustomize failed: .*is not in or below/s);
    expect(run.outputs['failure-reason']).toContain(path.join(dir, 'app'));
  });
});
