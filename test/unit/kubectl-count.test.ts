// The count of kubectl processes a run started: every process, by what it did, retries and
// watches included — with the real kubectl, against no cluster.
import { describe, expect, test } from '@jest/globals';
import { countLine, Kubectl } from '../../src/kube/kubectl.js';

// No kubeconfig: local commands work, a watch fails at once (nothing listens on kubectl's default address).
const offline = () => new Kubectl('kubectl', { env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: '/nonexistent/kubeconfig' } });

describe('Kubectl.count', () => {
  test('each process, by command, a raw GET and a watch apart', async () => {
    const kube = offline();
    expect(kube.count).toEqual({ total: 0, byCommand: {} });
    await kube.run(['version', '--client'], { allowFailure: true });
    await kube.run(['config', 'view', '--minify'], { allowFailure: true });
    await kube.run(['config', 'view', '--minify'], { allowFailure: true });
    const watch = kube.watch('/api/v1/namespaces/x/pods?watch=1', () => undefined);
    await watch.done;
    expect(kube.count).toEqual({ total: 4, byCommand: { 'config view': 2, version: 1, watch: 1 } });
  });

  test('the line printed at the end of a run: the total, then the commands, most first', () => {
    expect(countLine({ total: 5, byCommand: { 'get --raw': 3, apply: 1, watch: 1 } })).toBe('kubectl processes: 5 (get --raw 3, apply 1, watch 1)');
  });
});
