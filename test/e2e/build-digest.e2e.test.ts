// The release image's digest comes from the builder, as docker/build-push-action gets it: BuildKit's
// metadata file (docker buildx, the engine's own BuildKit) or the digest docker push reports
// (the classic builder). A registry login done earlier in the job is therefore enough: here, a
// registry behind Basic authentication that the action is given no credentials for.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAction, sampleWorkspace } from '../support/action.js';
import { clusterEnv, REGISTRY, REPO, servedDigest } from '../support/cluster.js';
import { privateRegistry, type PrivateRegistry } from '../support/registry-proxy.js';

const USER = 'ci-bot';
const PASSWORD = 'wf-registry-password';
let ws: string;
let registry: PrivateRegistry;
let buildxConfig: string;

/**
 * A docker config where `docker login` was done, as docker/login-action leaves one; with buildx's
 * plugin or without. Asynchronous: the registry's proxy answers from this same process.
 */
async function loggedInConfig(withBuildx: boolean): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-login-'));
  if (withBuildx) symlinkSync(path.join(buildxConfig, 'cli-plugins'), path.join(dir, 'cli-plugins'));
  await new Promise<void>((resolve, reject) => {
    const login = execFile(
      'docker',
      ['login', registry.host, '--username', USER, '--password-stdin'],
      { env: { ...clusterEnv(), DOCKER_CONFIG: dir } },
      (err) => (err ? reject(err) : resolve()),
    );
    login.stdin!.end(PASSWORD);
  });
  return dir;
}

const build = (image: string, tag: string, env: Record<string, string>, extra: Record<string, string> = {}) =>
  runAction({ command: 'build', image, tag, 'build-args': `SIM_MESSAGE=${tag}`, ...extra }, { cwd: ws, env });

beforeAll(async () => {
  ws = sampleWorkspace();
  registry = await privateRegistry(USER, PASSWORD);
  buildxConfig = execFileSync('bash', [path.join(REPO, 'test', 'tools', 'buildx.sh')], { encoding: 'utf8' }).trim();
});
afterAll(() => registry.stop());

describe('the digest comes from the builder', () => {
  test('classic builder (no buildx plugin): the digest docker push reported, the one the registry serves', async () => {
    const run = await build(`${REGISTRY}/wf/build-classic`, 'classic-1', { DOCKER_CONFIG: mkdtempSync(path.join(os.tmpdir(), 'medaudit-docker-')) });
    expect(run.code).toBe(0);
    expect(run.log).toContain('with docker build (no buildx plugin)');
    expect(run.outputs.status).toBe('built');
    expect(run.outputs.digest).toBe(await servedDigest('wf/build-classic', 'classic-1'));
    expect(run.outputs.image).toBe(`${REGISTRY}/wf/build-classic@${run.outputs.digest}`);
  });

  test("buildx: BuildKit pushes as it builds; its metadata file's digest is the one the registry serves", async () => {
    const run = await build(`${REGISTRY}/wf/build-buildx`, 'buildx-1', { DOCKER_CONFIG: buildxConfig });
    expect(run.code).toBe(0);
    expect(run.log).toContain('with docker buildx (BuildKit), pushing it');
    expect(run.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run.outputs.digest).toBe(await servedDigest('wf/build-buildx', 'buildx-1'));
  });
});

describe('a private registry logged into earlier in the job, no credentials given to the action', () => {
  test.each([
    ['the classic builder', false, 'with docker build'],
    ['buildx', true, 'with docker buildx'],
  ] as const)('%s: pushed and pinned by the digest the registry serves', async (_name, withBuildx, says) => {
    const tag = withBuildx ? 'private-buildx' : 'private-classic';
    const run = await build(`${registry.host}/wf/build-private`, tag, { DOCKER_CONFIG: await loggedInConfig(withBuildx) });
    expect(run.log).not.toMatch(/::error/);
    expect(run.code).toBe(0);
    expect(run.log).toContain(says);
    expect(run.outputs.digest).toBe(await servedDigest('wf/build-private', tag));
  });

  test('without that login the push is refused by the registry', async () => {
    const before = registry.unauthorized();
    const run = await build(`${registry.host}/wf/build-private`, 'no-login', { DOCKER_CONFIG: mkdtempSync(path.join(os.tmpdir(), 'medaudit-docker-')) });
    expect(run.code).toBe(1);
    expect(registry.unauthorized()).toBeGreaterThan(before);
    expect(await servedDigest('wf/build-private', 'no-login')).toBeNull();
  });

  test('build: false still reads the digest over HTTP, with the credentials given (a Basic challenge)', async () => {
    const run = await build(
      `${registry.host}/wf/build-private`,
      'private-classic',
      {},
      { build: 'false', 'registry-username': USER, 'registry-password': PASSWORD },
    );
    expect(run.code).toBe(0);
    expect(run.outputs.digest).toBe(await servedDigest('wf/build-private', 'private-classic'));
    // Only the runner's mask command names it.
    expect(run.log.replace(/^::add-mask::.*$/gm, '')).not.toContain(PASSWORD);
  });
});
