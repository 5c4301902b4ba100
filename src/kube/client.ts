// The seam between the action and the cluster: what the pipeline asks of kubectl, as an
// interface, so the orchestration is tested against a scripted client and the edge once, for real.
import type { WatchEvent } from './objects.js';

export type ExecResult = { code: number; stdout: string; stderr: string };
export type ExecOptions = {
  input?: string;
  allowFailure?: boolean;
  /** How long transient failures are retried (the client's default otherwise). */
  retryMs?: number;
};
export type WatchStream = { stop: () => void; done: Promise<number> };

export interface KubeClient {
  /** One kubectl command; throws KubectlError on a non-zero exit unless allowFailure. */
  run(args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** The command's `-o json` output, parsed. */
  json<T>(args: string[], opts?: ExecOptions): Promise<T>;
  /** A raw GET of an API path. */
  raw<T>(apiPath: string): Promise<T>;
  /** Streams a watch: one event per line until stop() or the server closes it. */
  watch(apiPath: string, onEvent: (e: WatchEvent) => void): WatchStream;
}

export class KubectlError extends Error {
  constructor(
    readonly args: string[],
    readonly result: ExecResult,
  ) {
    super(`kubectl ${args.join(' ')} failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`);
    this.name = 'KubectlError';
  }

  /** What kubectl said, without the command line. */
  get said(): string {
    return (this.result.stderr || this.result.stdout).trim();
  }
}
