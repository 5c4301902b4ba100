// Simulated nodes: registered with realistic capacity, kept Ready by lease renewals and status
// heartbeats, each with a kubelet endpoint that serves container logs to the API server.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isConflict, isNotFound, Kube } from './kube.js';
import { PodSim } from './pods.js';

const CAPACITY = { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' };
const ALLOCATABLE = { cpu: '3800m', memory: '7680Mi', pods: '110', 'ephemeral-storage': '95Gi' };
const K8S_VERSION = process.env.MEDAUDIT_K8S_VERSION ?? 'v1.34.4';

const microTime = () => new Date().toISOString().replace('Z', '000Z');
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export class SimNode {
  private readonly startedAt = now();
  private server?: https.Server;
  private beating = false;
  private failedBeats = 0;

  constructor(
    readonly name: string,
    readonly index: number,
    readonly kubeletPort: number,
    private readonly kube: Kube,
  ) {}

  body() {
    const zone = `zone-${'abc'[this.index % 3]}`;
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.name,
        labels: {
          'kubernetes.io/hostname': this.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'node.kubernetes.io/instance-type': 'sim.medium',
          'topology.kubernetes.io/zone': zone,
          type: 'medaudit-sim',
        },
      },
      spec: {},
      status: this.status(),
    };
  }

  status() {
    const beat = now();
    const cond = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: beat,
      lastTransitionTime: this.startedAt,
    });
    return {
      capacity: CAPACITY,
      allocatable: ALLOCATABLE,
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: this.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.kubeletPort } },
      nodeInfo: {
        machineID: `sim-${this.index}`,
        systemUUID: `00000000-0000-0000-0000-00000000000${this.index}`,
        bootID: `sim-boot-${this.index}`,
        kernelVersion: '6.1.0-sim',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        containerRuntimeVersion: 'containerd://1.7.24',
        kubeletVersion: K8S_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
  }

  async register(): Promise<void> {
    try {
      await this.kube.create('/api/v1/nodes', this.body());
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    await this.heartbeat();
  }

  async heartbeat(): Promise<void> {
    try {
      await this.kube.mergePatch(`/api/v1/nodes/${this.name}/status`, { status: this.status() });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.register();
      return;
    }
    await this.renewLease();
  }

  /** One heartbeat, never two at once (a hung API server must not pile them up); failures logged once per outage. */
  beat(log: (msg: string) => void): void {
    if (this.beating) return;
    this.beating = true;
    this.heartbeat()
      .then(() => {
        if (this.failedBeats > 0) log(`heartbeat ${this.name}: back after ${this.failedBeats} failed`);
        this.failedBeats = 0;
      })
      .catch((err) => {
        if (this.failedBeats++ === 0) log(`heartbeat ${this.name}: ${(err as Error).message}`);
      })
      .finally(() => {
        this.beating = false;
      });
  }

  private async renewLease(): Promise<void> {
    const p = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`;
    const spec = { holderIdentity: this.name, leaseDurationSeconds: 40, renewTime: microTime() };
    try {
      await this.kube.mergePatch(p, { spec });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.kube.create('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        metadata: { name: this.name, ownerReferences: [] },
        spec,
      });
    }
  }

  /** The kubelet API the API server proxies `kubectl logs` to. */
  serveLogs(clusterDir: string, lookup: (ns: string, pod: string) => PodSim | undefined, log: (msg: string) => void): void {
    const pki = path.join(clusterDir, 'pki');
    this.server = https.createServer({ cert: readFileSync(path.join(pki, 'kubelet.crt')), key: readFileSync(path.join(pki, 'kubelet.key')) }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://kubelet');
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (url.pathname === '/healthz') return void res.end('ok');
      const c = m && lookup(m[1], m[2])?.container(m[3]);
      if (!c) {
        res.statusCode = 404;
        return void res.end(m ? `container "${m[3]}" in pod "${m[2]}" is not available` : 'not found');
      }
      const previous = url.searchParams.get('previous') === 'true';
      if (previous && c.restartCount === 0) {
        res.statusCode = 400;
        return void res.end(`previous terminated container "${c.name}" in pod "${m![2]}" not found`);
      }
      let lines = previous ? c.previousLogs : c.logs;
      const tail = Number(url.searchParams.get('tailLines'));
      if (Number.isFinite(tail) && tail > 0) lines = lines.slice(-tail);
      res.setHeader('Content-Type', 'text/plain');
      res.end(lines.map((l) => `${l}\n`).join(''));
    });
    this.server.on('error', (err) => log(`kubelet endpoint ${this.name} :${this.kubeletPort}: ${err.message}`));
    this.server.listen(this.kubeletPort, '127.0.0.1');
  }

  close(): void {
    this.server?.close();
  }
}
