// A small client for the Kubernetes API with the admin certificate: just what a node needs
// (requests, and watches that resume after a broken stream).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';

export type Obj = { apiVersion?: string; kind?: string; metadata: Meta; spec?: any; status?: any; [k: string]: any };
export type Meta = {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  ownerReferences?: { kind: string; name: string; uid: string }[];
  [k: string]: any;
};
export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: Obj };

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: string, what: string) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

export class Kube {
  private readonly agent: https.Agent;
  readonly server: URL;

  constructor(clusterDir: string) {
    const kubeconfig = readFileSync(path.join(clusterDir, 'kubeconfig'), 'utf8');
    const server = /server:\s*(\S+)/.exec(kubeconfig)?.[1];
    if (!server) throw new Error(`no server in ${clusterDir}/kubeconfig`);
    this.server = new URL(server);
    const pki = path.join(clusterDir, 'pki');
    this.agent = new https.Agent({
      ca: readFileSync(path.join(pki, 'ca.crt')),
      cert: readFileSync(path.join(pki, 'admin.crt')),
      key: readFileSync(path.join(pki, 'admin.key')),
      keepAlive: true,
      maxSockets: 32,
    });
  }

  async request<T = any>(method: string, apiPath: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.server.hostname,
          port: this.server.port,
          path: apiPath,
          method,
          agent: this.agent,
          // An explicit length: Node sends no chunked body for DELETE, which would corrupt the connection.
          headers: {
            Accept: 'application/json',
            ...(payload ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 500) >= 300) return reject(new ApiError(res.statusCode ?? 500, text, `${method} ${apiPath}`));
            resolve(text ? JSON.parse(text) : undefined);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${apiPath}: timed out`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  get<T = any>(p: string) {
    return this.request<T>('GET', p);
  }
  create<T = any>(p: string, body: unknown) {
    return this.request<T>('POST', p, body);
  }
  replace<T = any>(p: string, body: unknown) {
    return this.request<T>('PUT', p, body);
  }
  mergePatch<T = any>(p: string, body: unknown) {
    return this.request<T>('PATCH', p, body, 'application/merge-patch+json');
  }
  delete<T = any>(p: string, body?: unknown) {
    return this.request<T>('DELETE', p, body);
  }

  /** Lists, then watches from that list's resourceVersion; starts over whenever the stream breaks. */
  watch(listPath: string, onEvent: (e: WatchEvent) => void, onError: (err: Error) => void): () => void {
    let stopped = false;
    let current: ReturnType<typeof https.request> | undefined;
    const loop = async () => {
      while (!stopped) {
        try {
          const list = await this.get(listPath);
          for (const item of list.items ?? []) onEvent({ type: 'ADDED', object: item });
          await this.stream(listPath, list.metadata.resourceVersion, onEvent, (r) => (current = r));
        } catch (err) {
          if (!stopped) onError(err as Error);
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 500));
      }
    };
    void loop();
    return () => {
      stopped = true;
      current?.destroy();
    };
  }

  private stream(listPath: string, rv: string, onEvent: (e: WatchEvent) => void, keep: (r: any) => void): Promise<void> {
    const sep = listPath.includes('?') ? '&' : '?';
    const p = `${listPath}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}&timeoutSeconds=300`;
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: this.server.hostname, port: this.server.port, path: p, method: 'GET', agent: this.agent },
        (res) => {
          if ((res.statusCode ?? 500) >= 300) {
            res.resume();
            reject(new ApiError(res.statusCode ?? 500, '', `watch ${listPath}`));
            return;
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              const event = JSON.parse(line) as WatchEvent;
              // An expired resourceVersion arrives as an ERROR event: relist.
              if (event.type === 'ERROR') {
                req.destroy();
                return;
              }
              if (event.type !== 'BOOKMARK') onEvent(event);
            }
          });
          res.on('end', () => resolve());
          res.on('error', () => resolve());
        },
      );
      keep(req);
      req.on('error', () => resolve());
      req.end();
    });
  }
}

export const isNotFound = (err: unknown) => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof ApiError && err.status === 409;
