// The local registry behind HTTP Basic authentication, as a private registry is: every request
// without the right credentials gets 401 with a Basic challenge, the others go through to
// 127.0.0.1:5000 unchanged (the Host header kept, so upload locations point back here).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { REGISTRY } from './cluster.js';

export type PrivateRegistry = { host: string; unauthorized: () => number; stop: () => Promise<void> };

export async function privateRegistry(username: string, password: string): Promise<PrivateRegistry> {
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const [upstreamHost, upstreamPort] = REGISTRY.split(':');
  let refused = 0;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      refused++;
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="medaudit-test"', 'Docker-Distribution-Api-Version': 'registry/2.0' }).end();
      req.resume();
      return;
    }
    const upstream = http.request({ host: upstreamHost, port: Number(upstreamPort), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    unauthorized: () => refused,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
