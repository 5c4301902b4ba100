// A stand-in for the GitHub REST API on loopback (the one service this machine cannot reach):
// it answers the calls a preview makes and records every request, for tests to assert.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Recorded = { method: string; path: string; body: any };

export class FakeGitHub {
  readonly requests: Recorded[] = [];
  /** PR number → state, as GET /repos/{o}/{r}/pulls/{n} reports it. */
  readonly pulls = new Map<number, 'open' | 'closed'>();
  private readonly comments = new Map<number, { id: number; body: string }[]>();
  private readonly deployments: { id: number; environment: string; ref: string; statuses: any[] }[] = [];
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
        this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, body });
        const [status, payload] = this.answer(req.method ?? '', url, body);
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
    if ((m = /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)$/.exec(p)) && method === 'GET') {
      const state = this.pulls.get(Number(m[1]));
      return state ? [200, { number: Number(m[1]), state }] : [404, { message: 'Not Found' }];
    }
    return [404, { message: `no fake for ${method} ${p}` }];
  }
}
