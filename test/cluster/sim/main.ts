// The node simulator: several nodes that run what the real scheduler binds to them.
//   node main.js --cluster-dir DIR --nodes N --registry 127.0.0.1:5000
import { EventRecorder } from './events.js';
import { Kube, Obj } from './kube.js';
import { SimNode } from './nodes.js';
import { PodSim } from './pods.js';
import { Registry } from './registry.js';
import { ensureStorageClass, provision, reclaim } from './volumes.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

const log = (msg: string) => console.log(`${new Date().toISOString()} ${msg}`);

// One pod's bug must not take the nodes down with it: say it loudly, keep the others and the leases going.
process.on('unhandledRejection', (reason) => {
  log(`UNHANDLED REJECTION (simulator keeps running): ${(reason as Error)?.stack ?? reason}`);
});
process.on('uncaughtException', (err) => {
  log(`UNCAUGHT EXCEPTION (simulator keeps running): ${err?.stack ?? err}`);
});
const clusterDir = arg('cluster-dir');
const nodeCount = Number(arg('nodes', '3'));
const speed = Number(process.env.MEDAUDIT_SIM_SPEED ?? '1');
const kube = new Kube(clusterDir);
const registry = new Registry(arg('registry', '127.0.0.1:5000'));
const events = new EventRecorder(kube, log);
const nodes = Array.from({ length: nodeCount }, (_, i) => new SimNode(`sim-node-${i + 1}`, i + 1, 20250 + i, kube));
const pods = new Map<string, PodSim>();
const byName = new Map<string, PodSim>();
let nextIP = 2;

function podIP(node: SimNode): string {
  const n = nextIP++;
  return `10.244.${node.index}.${(n % 250) + 2}`;
}

function onPod(type: string, pod: Obj): void {
  const uid = pod.metadata.uid!;
  const node = nodes.find((n) => n.name === pod.spec?.nodeName);
  const known = pods.get(uid);
  if (type === 'DELETED') {
    known?.stop();
    pods.delete(uid);
    byName.delete(`${pod.metadata.namespace}/${pod.metadata.name}`);
    events.forget(uid);
    return;
  }
  if (!node) return;
  if (known) {
    known.pod = pod;
    if (pod.metadata.deletionTimestamp) known.terminate().catch(known.settle('terminate'));
    else known.reconcile();
    return;
  }
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return;
  const sim = new PodSim(pod, node.name, podIP(node), kube, registry, events, speed, log);
  pods.set(uid, sim);
  byName.set(sim.key, sim);
  if (pod.metadata.deletionTimestamp) sim.terminate().catch(sim.settle('terminate'));
  else sim.start();
}

async function main(): Promise<void> {
  await ensureStorageClass(kube);
  for (const node of nodes) {
    node.serveLogs(clusterDir, (ns, name) => byName.get(`${ns}/${name}`), log);
    await node.register();
  }
  log(`${nodes.length} nodes registered: ${nodes.map((n) => n.name).join(', ')}`);
  const beat = () => {
    for (const node of nodes) node.beat(log);
  };
  const heartbeat = setInterval(beat, 10_000);
  const onError = (what: string) => (err: Error) => log(`watch ${what}: ${err.message}`);
  // A second list means the watch broke (an API server restart): the nodes report at once, and
  // every pod's status is written again, over whatever was set meanwhile.
  const onPodsListed = (relist: boolean) => {
    if (!relist) return;
    log(`pods listed again: re-syncing ${pods.size} pods and the node status`);
    beat();
    for (const sim of pods.values()) sim.resync();
  };
  const stops = [
    kube.watch('/api/v1/pods', (e) => onPod(e.type, e.object), onError('pods'), onPodsListed),
    kube.watch(
      '/api/v1/persistentvolumeclaims',
      (e) => {
        if (e.type !== 'DELETED') provision(kube, e.object).catch(onError('provision'));
      },
      onError('pvcs'),
    ),
    kube.watch(
      '/api/v1/persistentvolumes',
      (e) => {
        if (e.type !== 'DELETED') reclaim(kube, e.object).catch(onError('reclaim'));
      },
      onError('pvs'),
    ),
  ];
  const shutdown = () => {
    clearInterval(heartbeat);
    stops.forEach((s) => s());
    for (const sim of pods.values()) sim.stop();
    nodes.forEach((n) => n.close());
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err) => {
  log(`simulator failed: ${err.stack ?? err}`);
  process.exit(1);
});
