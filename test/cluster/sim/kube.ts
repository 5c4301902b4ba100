// A small client for the Kubernetes API with the admin certificate: just what a node needs
// (requests, and watches that resume after a broken stream).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';

export type Obj = { apiVersion?: string; kind?: string; metadata: Meta; spec?: any; status?: any; [k: string]: any };
type Meta = {
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
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
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
            // A throw here would escape as an uncaught exception: a half-written body must only fail this call.
            try {
              resolve(text ? JSON.parse(text) : undefined);
            } catch (err) {
              reject(new Error(`${method} ${apiPath}: unreadable answer: ${(err as Error).message}`));
            }
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

  /**
   * Lists, then watches from that list's resourceVersion, as an informer does: a stream that ends
   * cleanly is resumed from the last resourceVersion seen; a broken connection or an expired
   * resourceVersion means a new list, which also reports as DELETED what vanished meanwhile.
   * `onListed(relist)` runs after each list, so a caller can re-sync what it wrote (after an API
   * server restart, for instance). A throwing `onEvent` is reported and the stream goes on.
   */
  watch(listPath: string, onEvent: (e: WatchEvent) => void, onError: (err: Error) => void, onListed?: (relist: boolean) => void): () => void {
    let stopped = false;
    let current: ReturnType<typeof https.request> | undefined;
    const known = new Map<string, Obj>();
    const deliver = (e: WatchEvent) => {
      const uid = e.object?.metadata?.uid;
      if (uid) {
        if (e.type === 'DELETED') known.delete(uid);
        else known.set(uid, e.object);
      }
      try {
        onEvent(e);
      } catch (err) {
        report(err);
      }
    };
    const report = (err: unknown) => {
      try {
        if (!stopped) onError(err instanceof Error ? err : new Error(String(err)));
      } catch {
        // The error reporter itself failed: nothing sensible is left to do with it.
      }
    };
    const loop = async () => {
      let rv: string | undefined;
      let lists = 0;
      let pause = 500;
      while (!stopped) {
        try {
          if (rv === undefined) {
            const list = await this.get(listPath);
            const items: Obj[] = list.items ?? [];
            const present = new Set(items.map((i) => i.metadata.uid));
            for (const [uid, obj] of [...known]) if (!present.has(uid)) deliver({ type: 'DELETED', object: obj });
            for (const item of items) deliver({ type: 'ADDED', object: item });
            rv = list.metadata.resourceVersion as string;
            try {
              onListed?.(lists++ > 0);
            } catch (err) {
              report(err);
            }
          }
          const end = await this.stream(listPath, rv, deliver, (r) => (current = r));
          rv = end.expired ? undefined : end.rv;
          pause = 500;
          continue;
        } catch (err) {
          rv = undefined;
          report(err);
        }
        // Down or refusing: retry, less often while it lasts.
        if (!stopped) await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 2000);
      }
    };
    loop().catch(report);
    return () => {
      stopped = true;
      current?.destroy();
    };
  }

  /** One watch request: resolves with the last resourceVersion seen when the server ends it; rejects when the connection breaks. */
  private stream(listPath: string, rv: string, onEvent: (e: WatchEvent) => void, keep: (r: any) => void): Promise<{ rv: string; expired: boolean }> {
    const sep = listPath.includes('?') ? '&' : '?';
    const p = `${listPath}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}&timeoutSeconds=300`;
    let last = rv;
    return new Promise((resolve, reject) => {
      const req = https.request({ host: this.server.hostname, port: this.server.port, path: p, method: 'GET', agent: this.agent }, (res) => {
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
            let event: WatchEvent;
            try {
              event = JSON.parse(line) as WatchEvent;
            } catch {
              req.destroy(new Error(`watch ${listPath}: unreadable event`));
              return;
            }
            // An expired resourceVersion (410 Gone) arrives as an ERROR event: list again.
            if (event.type === 'ERROR') {
              resolve({ rv: last, expired: true });
              req.destroy();
              return;
            }
            const v = event.object?.metadata?.resourceVersion;
            if (v) last = v;
            if (event.type !== 'BOOKMARK') onEvent(event);
          }
        });
        res.on('end', () => resolve({ rv: last, expired: false }));
        res.on('error', reject);
        // Closed without an end: the connection broke (a no-op when it ended first).
        res.on('close', () => reject(new Error(`watch ${listPath}: connection closed`)));
      });
      keep(req);
      req.on('error', reject);
      req.end();
    });
  }
}

export const isNotFound = (err: unknown) => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof ApiError && err.status === 409;
