// A stand-in for the GitHub REST API on loopback (the one service this machine cannot reach):
// it answers the calls a preview and a release make and records every request, for tests to
// assert. It enforces a job token's permissions as GitHub does: a token minted by `jobToken` carries
// the job's `permissions:`, and a request they do not grant gets 403 "Resource not accessible by
// integration". Any other token stands for a personal token that may do everything.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Recorded = { method: string; path: string; body: any; status: number };
export type Access = 'read' | 'write' | 'none';
/** A job's token permissions, by scope (contents, pull-requests, deployments, ...). */
export type Permissions = Record<string, Access>;

const TOKEN_PREFIX = 'ghs_job_';
/** A token that stands for a job's GITHUB_TOKEN with these permissions. */
export const jobToken = (permissions: Permissions) => `${TOKEN_PREFIX}${Buffer.from(JSON.stringify(permissions)).toString('base64url')}`;

function permissionsOf(authorization: string | undefined): Permissions | 'all' {
  const token = /^(?:token|bearer)\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? '';
  if (!token.startsWith(TOKEN_PREFIX)) return 'all';
  return JSON.parse(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')) as Permissions;
}

/** The scopes that grant a request on this path; any one of them suffices (PR comments: issues or pull-requests). */
function scopesOf(path: string): string[] {
  if (/^\/repos\/[^/]+\/[^/]+\/issues\//.test(path)) return ['issues', 'pull-requests'];
  if (/^\/repos\/[^/]+\/[^/]+\/pulls\//.test(path)) return ['pull-requests'];
  if (/^\/repos\/[^/]+\/[^/]+\/deployments/.test(path)) return ['deployments'];
  if (/^\/repos\/[^/]+\/[^/]+\/(releases|git)/.test(path)) return ['contents'];
  return [];
}

/** Whether the permissions allow the request: a read needs read or write, a write needs write. */
export function allowed(permissions: Permissions | 'all', method: string, path: string): boolean {
  if (permissions === 'all') return true;
  const need = method === 'GET' || method === 'HEAD' ? ['read', 'write'] : ['write'];
  return scopesOf(path).some((scope) => need.includes(permissions[scope] ?? 'none'));
}

export class FakeGitHub {
  readonly requests: Recorded[] = [];
  /** PR number → state, as GET /repos/{o}/{r}/pulls/{n} reports it. */
  readonly pulls = new Map<number, 'open' | 'closed'>();
  private readonly comments = new Map<number, { id: number; body: string }[]>();
  private readonly deployments: { id: number; environment: string; ref: string; statuses: any[] }[] = [];
  readonly releases: { id: number; tag_name: string; name?: string }[] = [];
  private nextId = 1000;
  private server?: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const body = raw ? JSON.parse(raw) : undefined;
        const url = new URL(req.url ?? '/', 'http://x');
        const method = req.method ?? '';
        const [status, payload] = allowed(permissionsOf(req.headers.authorization), method, url.pathname)
          ? this.answer(method, url, body)
          : [403, { message: 'Resource not accessible by integration', status: '403' }];
        this.requests.push({ method, path: url.pathname + url.search, body, status });
        res.statusCode = status;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(payload));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** The requests without the reads, as "METHOD path". */
  writes(): string[] {
    return this.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
  }

  /** The requests refused for the token's permissions, as "METHOD path". */
  refused(): string[] {
    return this.requests.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`);
  }

  commentsOn(pr: number) {
    return this.comments.get(pr) ?? [];
  }

  deploymentsFor(environment: string) {
    return this.deployments.filter((d) => d.environment === environment);
  }

  private answer(method: string, url: URL, body: any): [number, unknown] {
    const p = url.pathname;
    let m: RegExpExecArray | null;
    if ((m = /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/.exec(p))) {
      const pr = Number(m[1]);
      const list = this.comments.get(pr) ?? [];
      this.comments.set(pr, list);
      if (method === 'GET') return [200, list];
      const c = { id: this.nextId++, body: body.body };
      list.push(c);
      return [201, c];
    }
    if ((m = /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/.exec(p)) && method === 'PATCH') {
      const id = Number(m[1]);
      for (const list of this.comments.values()) {
        const c = list.find((x) => x.id === id);
        if (c) {
          c.body = body.body;
          return [200, c];
        }
      }
      return [404, { message: 'Not Found' }];
    }
    if (/^\/repos\/[^/]+\/[^/]+\/deployments$/.test(p)) {
      if (method === 'GET') {
        const env = url.searchParams.get('environment');
        return [200, this.deployments.filter((d) => !env || d.environment === env).map(({ statuses: _s, ...d }) => d)];
      }
      const d = { id: this.nextId++, environment: body.environment, ref: body.ref, statuses: [] as any[] };
      this.deployments.push(d);
      return [201, { id: d.id, environment: d.environment, ref: d.ref }];
    }
    if ((m = /^\/repos\/[^/]+\/[^/]+\/deployments\/(\d+)\/statuses$/.exec(p)) && method === 'POST') {
      const d = this.deployments.find((x) => x.id === Number(m![1]));
      if (!d) return [404, { message: 'Not Found' }];
      d.statuses.push(body);
      return [201, { id: this.nextId++, state: body.state }];
    }
    if ((m = /^\/repos\/[^/]+\/[^/]+\/releases\/tags\/([^/]+)$/.exec(p)) && method === 'GET') {
      const release = this.releases.find((r) => r.tag_name === decodeURIComponent(m![1]));
      return release ? [200, release] : [404, { message: 'Not Found' }];
    }
    if (/^\/repos\/[^/]+\/[^/]+\/releases$/.test(p) && method === 'POST') {
      if (this.releases.some((r) => r.tag_name === body.tag_name)) return [422, { message: 'Validation Failed', errors: [{ code: 'already_exists' }] }];
      const release = {
        id: this.nextId++,
        tag_name: body.tag_name,
        name: body.name,
        html_url: `https://github.com${p.slice(6, -9)}/releases/tag/${body.tag_name}`,
      };
      this.releases.push(release);
      return [201, release];
    }
    if ((m = /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)$/.exec(p)) && method === 'GET') {
      const state = this.pulls.get(Number(m[1]));
      return state ? [200, { number: Number(m[1]), state }] : [404, { message: 'Not Found' }];
    }
    return [404, { message: `no fake for ${method} ${p}` }];
  }
}
