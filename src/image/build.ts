// Building and pushing the release image with docker: buildx when present, the classic builder
// otherwise; OCI labels that tie the image to its commit; pushes retried on transient errors.
import * as exec from '@actions/exec';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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
  const current = path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
  if (existsSync(current)) copyFileSync(current, path.join(dir, 'config.json'));
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

export function buildArgs(req: BuildRequest, buildx: boolean): string[] {
  return [
    ...(buildx ? ['buildx', 'build', '--load'] : ['build']),
    '--file',
    req.dockerfile,
    '--tag',
    req.tagged,
    ...Object.entries(req.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...req.buildArgs.flatMap((a) => ['--build-arg', a]),
    req.context,
  ];
}

export async function build(d: Docker, req: BuildRequest, log: (line: string) => void): Promise<void> {
  const buildx = await hasBuildx(d);
  log(`building ${req.tagged} from ${req.dockerfile} with ${buildx ? 'docker buildx' : 'docker build'}`);
  const r = await d.run(buildArgs(req, buildx));
  if (r.code !== 0) throw new Error(`docker build failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
}

export async function login(d: Docker, registry: string, username: string, password: string): Promise<void> {
  const r = await d.run(['login', registry, '--username', username, '--password-stdin'], password);
  if (r.code !== 0) throw new Error(`docker login ${registry} failed: ${r.stderr.trim()}`);
}

export async function logout(d: Docker, registry: string): Promise<void> {
  await d.run(['logout', registry]);
}

/** Pushes, retrying transient registry errors a bounded number of times with growing pauses. */
export async function push(d: Docker, tagged: string, log: (line: string) => void, attempts = 3, pauseMs = 2000): Promise<void> {
  for (let i = 1; ; i++) {
    const r = await d.run(['push', tagged]);
    if (r.code === 0) return;
    const why = (r.stderr || r.stdout).trim();
    if (i >= attempts || !TRANSIENT.test(why)) throw new Error(`docker push ${tagged} failed: ${why}`);
    log(`push attempt ${i} failed (${why.split('\n').pop()}); retrying`);
    await new Promise((res) => setTimeout(res, pauseMs * i));
  }
}
