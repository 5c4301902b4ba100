// The one door to the cluster: kubectl, run with argument arrays (never a shell), against the
// kubeconfig the run was given. Output is captured, not echoed, so secrets stay out of the log.
// Every call has a request timeout; transient API failures are retried within a bounded budget;
// a cancelled run stops the kubectl processes it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { KubectlError, type ExecOptions, type ExecResult, type KubeClient, type WatchStream } from './client.js';
import type { WatchEvent } from './objects.js';
import { DEFAULT_RETRY, isTransient, nextPause, type RetryPolicy } from './retry.js';

export type KubectlOptions = {
  kubeconfig?: string;
  /** Per request; a hung call fails instead of waiting for the job's limit. */
  requestTimeoutSeconds?: number;
  retry?: RetryPolicy;
  /** Told of each retry, with kubectl's words. */
  onRetry?: (line: string) => void;
  /** Variables kept from the parent environment; the rest (INPUT_* included) never reach kubectl. */
  env?: NodeJS.ProcessEnv;
};

// Commands that run without the API server, or wait on their own terms.
const LOCAL = new Set(['kustomize', 'config', 'wait']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a run asked of kubectl: the processes it started, by what they did. */
export type KubectlCount = { total: number; byCommand: Record<string, number> };

/** A command's name in the count: its verb; raw GETs and watches apart; auth, rollout and config with their subcommand. */
function commandName(args: string[], watch: boolean): string {
  if (watch) return 'watch';
  if (args[0] === 'get' && args[1] === '--raw') return 'get --raw';
  if (args[0] === 'auth' || args[0] === 'rollout' || args[0] === 'config') return `${args[0]} ${args[1]}`;
  return args[0];
}

export const countLine = (c: KubectlCount) =>
  `kubectl processes: ${c.total} (${Object.entries(c.byCommand)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ')})`;

export class Kubectl implements KubeClient {
  private readonly children = new Set<ChildProcess>();
  private readonly started = new Map<string, number>();

  constructor(
    readonly binary: string,
    private readonly opts: KubectlOptions = {},
  ) {}

  private env(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.opts.env ?? process.env)) if (v !== undefined && !k.startsWith('INPUT_')) env[k] = v;
    if (this.opts.kubeconfig) env.KUBECONFIG = this.opts.kubeconfig;
    return env;
  }

  private argsFor(args: string[]): string[] {
    const timeout = this.opts.requestTimeoutSeconds ?? 30;
    return LOCAL.has(args[0]) || args.includes('--local') ? args : [`--request-timeout=${timeout}s`, ...args];
  }

  /** Every kubectl process this client started so far (retries included). */
  get count(): KubectlCount {
    const byCommand = Object.fromEntries([...this.started].sort((a, b) => b[1] - a[1]));
    return { total: [...this.started.values()].reduce((n, c) => n + c, 0), byCommand };
  }

  private spawn(args: string[], stdin: 'pipe' | 'ignore', watch = false): ChildProcess {
    const name = commandName(args, watch);
    this.started.set(name, (this.started.get(name) ?? 0) + 1);
    const child = spawn(this.binary, watch ? args : this.argsFor(args), { env: this.env(), stdio: [stdin, 'pipe', 'pipe'] });
    this.children.add(child);
    return child;
  }

  /** Stops every kubectl this client has running: a cancelled run's calls end now. */
  stopAll(): void {
    for (const child of this.children) child.kill('SIGTERM');
  }

  private once(args: string[], input?: string): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = this.spawn(args, 'pipe');
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input);
      child.on('error', (err) => {
        this.children.delete(child);
        resolve({ code: 127, stdout, stderr: `${stderr}${err.message}` });
      });
      child.on('close', (code, signal) => {
        this.children.delete(child);
        resolve({ code: code ?? 1, stdout, stderr: signal ? `${stderr}kubectl stopped by ${signal}` : stderr });
      });
    });
  }

  async run(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const base = this.opts.retry ?? DEFAULT_RETRY;
    const policy = opts.retryMs === undefined ? base : { ...base, budgetMs: opts.retryMs };
    const started = Date.now();
    for (let retry = 1; ; retry++) {
      const out = await this.once(args, opts.input);
      const pause = out.code !== 0 && isTransient(out.stderr) ? nextPause(policy, retry, Date.now() - started) : undefined;
      if (pause === undefined) {
        if (out.code !== 0 && !opts.allowFailure) throw new KubectlError(args, out);
        return out;
      }
      this.opts.onRetry?.(`kubectl ${args[0]} ${args[1] ?? ''}: ${out.stderr.trim().split('\n').pop()}; retrying in ${pause / 1000}s`);
      await sleep(pause);
    }
  }

  async json<T>(args: string[], opts: ExecOptions = {}): Promise<T> {
    const { stdout } = await this.run([...args, '-o', 'json'], opts);
    return JSON.parse(stdout) as T;
  }

  /** A raw GET through kubectl's own authentication (exec plugins, tokens, certificates). */
  async raw<T>(apiPath: string): Promise<T> {
    const { stdout } = await this.run(['get', '--raw', apiPath]);
    return JSON.parse(stdout) as T;
  }

  watch(apiPath: string, onEvent: (e: WatchEvent) => void): WatchStream {
    const child = this.spawn(['get', '--raw', apiPath], 'ignore', true);
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent);
      }
    });
    child.stderr!.resume();
    const done = new Promise<number>((resolve) => {
      child.on('close', (code) => {
        this.children.delete(child);
        resolve(code ?? 0);
      });
      // A kubectl that cannot start ends the stream like a closed watch: the caller lists again.
      child.on('error', () => {
        this.children.delete(child);
        resolve(127);
      });
    });
    return { stop: () => child.kill('SIGTERM'), done };
  }
}

/** Splits kubectl's output of several `-o json` objects printed one after another. */
export function splitJsonStream(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return out;
}
