// Building and pushing the release image with docker: buildx (BuildKit) when present, the classic
// builder otherwise; OCI labels that tie the image to its commit; pushes retried on transient errors.
// The pushed digest comes from the builder itself, as docker/build-push-action gets it: BuildKit's
// metadata file, or the digest docker push reports (the image's RepoDigests as a last resort). So
// it is read with docker's own credentials, whoever logged in.
import * as exec from '@actions/exec';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { normalizedRepository, parseImageReference } from './reference.js';

export type BuildRequest = {
  tagged: string;
  dockerfile: string;
  context: string;
  buildArgs: string[];
  labels: Record<string, string>;
};

export type Docker = {
  run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
};

/** The docker CLI; with `configDir`, its own DOCKER_CONFIG (logins land there, not in ~/.docker). */
export function dockerCli(configDir?: string): Docker {
  const env: Record<string, string> = {};
  // The action's INPUT_* variables (secrets among them) never reach a child process.
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('INPUT_')) env[k] = v;
  if (configDir) env.DOCKER_CONFIG = configDir;
  return {
    async run(args, input) {
      const r = await exec.getExecOutput('docker', args, {
        silent: true,
        ignoreReturnCode: true,
        env,
        ...(input !== undefined ? { input: Buffer.from(input) } : {}),
      });
      return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/**
 * A private docker config for one run, under RUNNER_TEMP: it starts as a copy of the user's (so
 * logins and credential helpers set up earlier in the job still work) and is removed afterwards.
 */
export function privateDockerConfig(tmpRoot = process.env.RUNNER_TEMP || os.tmpdir()): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpRoot, 'medaudit-docker-'));
  const from = process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
  if (existsSync(path.join(from, 'config.json'))) copyFileSync(path.join(from, 'config.json'), path.join(dir, 'config.json'));
  // CLI plugins installed there (buildx) stay available.
  if (existsSync(path.join(from, 'cli-plugins'))) symlinkSync(path.join(from, 'cli-plugins'), path.join(dir, 'cli-plugins'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const TRANSIENT = /timeout|timed out|connection reset|connection refused|EOF|502|503|504|TLS handshake|temporary failure|i\/o timeout/i;

async function hasBuildx(d: Docker): Promise<boolean> {
  return (await d.run(['buildx', 'version'])).code === 0;
}

/** The OCI annotations every release image carries. */
export function ociLabels(source: string | undefined, revision: string | undefined, created: Date): Record<string, string> {
  return {
    ...(source ? { 'org.opencontainers.image.source': source } : {}),
    ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
    'org.opencontainers.image.created': created.toISOString(),
  };
}

/** docker build, or docker buildx build pushing itself and writing BuildKit's metadata file. */
export function buildArgs(req: BuildRequest, buildx?: { push: boolean; metadataFile: string }): string[] {
  return [
    ...(buildx ? ['buildx', 'build', buildx.push ? '--push' : '--load', '--metadata-file', buildx.metadataFile] : ['build']),
    '--file',
    req.dockerfile,
    '--tag',
    req.tagged,
    ...Object.entries(req.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...req.buildArgs.flatMap((a) => ['--build-arg', a]),
    req.context,
  ];
}

const failed = (what: string, r: { code: number; stdout: string; stderr: string }) =>
  new Error(`${what} failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);

/** The manifest digest BuildKit pushed, from its metadata file. */
export function metadataDigest(text: string): string | undefined {
  const meta = JSON.parse(text) as Record<string, unknown>;
  const digest = meta['containerimage.digest'];
  return typeof digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(digest) ? digest : undefined;
}

/** The digest `docker push` reports for the tag it pushed ("<tag>: digest: sha256:... size: N"). */
export function pushedDigest(output: string): string | undefined {
  return /digest: (sha256:[0-9a-f]{64})/.exec(output)?.[1];
}

/** The image's digest in `repository` among its RepoDigests (set by a push or a pull). */
async function repoDigest(d: Docker, tagged: string): Promise<string | undefined> {
  const r = await d.run(['image', 'inspect', '--format', '{{json .RepoDigests}}', tagged]);
  if (r.code !== 0) return undefined;
  const repository = normalizedRepository(parseImageReference(tagged));
  const mine = (JSON.parse(r.stdout.trim() || '[]') as string[]).filter((e) => normalizedRepository(parseImageReference(e)) === repository);
  return mine.length === 1 ? mine[0].slice(mine[0].indexOf('@') + 1) : undefined;
}

/**
 * Builds the image and, with `push`, pushes it; returns the pushed manifest's digest as the builder
 * reports it (undefined without a push).
 */
export async function buildAndPush(d: Docker, req: BuildRequest, pushIt: boolean, log: (line: string) => void): Promise<string | undefined> {
  if (await hasBuildx(d)) {
    log(`building ${req.tagged} from ${req.dockerfile} with docker buildx (BuildKit)${pushIt ? ', pushing it' : ''}`);
    const dir = mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'medaudit-buildx-'));
    try {
      const metadataFile = path.join(dir, 'metadata.json');
      const r = await d.run(buildArgs(req, { push: pushIt, metadataFile }));
      if (r.code !== 0) throw failed('docker buildx build', r);
      if (!pushIt) return undefined;
      const digest = existsSync(metadataFile) ? metadataDigest(readFileSync(metadataFile, 'utf8')) : undefined;
      if (digest) return digest;
      log('BuildKit wrote no digest to its metadata file; reading the image RepoDigests');
      return await repoDigest(d, req.tagged);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  log(`building ${req.tagged} from ${req.dockerfile} with docker build (no buildx plugin)`);
  const r = await d.run(buildArgs(req));
  if (r.code !== 0) throw failed('docker build', r);
  if (!pushIt) return undefined;
  const output = await push(d, req.tagged, log);
  return pushedDigest(output) ?? (await repoDigest(d, req.tagged));
}

export async function login(d: Docker, registry: string, username: string, password: string): Promise<void> {
  const r = await d.run(['login', registry, '--username', username, '--password-stdin'], password);
  if (r.code !== 0) throw new Error(`docker login ${registry} failed: ${r.stderr.trim()}`);
}

export async function logout(d: Docker, registry: string): Promise<void> {
  await d.run(['logout', registry]);
}

/** Pushes, retrying transient registry errors a bounded number of times with growing pauses; returns docker's report. */
export async function push(d: Docker, tagged: string, log: (line: string) => void, attempts = 3, pauseMs = 2000): Promise<string> {
  for (let i = 1; ; i++) {
    const r = await d.run(['push', tagged]);
    if (r.code === 0) return r.stdout;
    const why = (r.stderr || r.stdout).trim();
    if (i >= attempts || !TRANSIENT.test(why)) throw new Error(`docker push ${tagged} failed: ${why}`);
    log(`push attempt ${i} failed (${why.split('\n').pop()}); retrying`);
    await new Promise((res) => setTimeout(res, pauseMs * i));
  }
}
