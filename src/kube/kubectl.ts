// The one door to the cluster: kubectl, run with argument arrays (never a shell), against the
// kubeconfig the run was given. Output is captured, not echoed, so secrets stay out of the log.
import * as exec from '@actions/exec';
import { spawn } from 'node:child_process';
import { KubectlError, type ExecOptions, type ExecResult, type KubeClient, type WatchStream } from './client.js';
import type { WatchEvent } from './objects.js';

export class Kubectl implements KubeClient {
  constructor(
    readonly binary: string,
    private readonly kubeconfig?: string,
  ) {}

  private env(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    if (this.kubeconfig) env.KUBECONFIG = this.kubeconfig;
    return env;
  }

  async run(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const result = await exec.getExecOutput(this.binary, args, {
      silent: true,
      ignoreReturnCode: true,
      env: this.env(),
      ...(opts.input !== undefined ? { input: Buffer.from(opts.input) } : {}),
    });
    const out = { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    if (out.code !== 0 && !opts.allowFailure) throw new KubectlError(args, out);
    return out;
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
    const child = spawn(this.binary, ['get', '--raw', apiPath], { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent);
      }
    });
    child.stderr.resume();
    const done = new Promise<number>((resolve) => {
      child.on('close', (code) => resolve(code ?? 0));
      // A kubectl that cannot start ends the stream like a closed watch: the caller lists again.
      child.on('error', () => resolve(127));
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
