// A dynamic provisioner for StorageClass `standard`: creates a PersistentVolume for each claim,
// so the real PV controller binds it, and deletes released volumes as Delete policy asks.
import { isConflict, isNotFound, Kube, Obj } from './kube.js';

const PROVISIONER = 'medaudit.local/sim-hostpath';
const STORAGE_CLASS = 'standard';

export async function ensureStorageClass(kube: Kube): Promise<void> {
  try {
    await kube.create('/apis/storage.k8s.io/v1/storageclasses', {
      metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: PROVISIONER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
      allowVolumeExpansion: true,
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

export async function provision(kube: Kube, pvc: Obj): Promise<void> {
  const wantsUs = (pvc.spec?.storageClassName ?? STORAGE_CLASS) === STORAGE_CLASS;
  if (!wantsUs || pvc.status?.phase !== 'Pending' || pvc.spec?.volumeName || pvc.metadata.deletionTimestamp) return;
  const { name, namespace, uid } = pvc.metadata;
  try {
    await kube.create('/api/v1/persistentvolumes', {
      metadata: { name: `pvc-${uid}`, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
      spec: {
        capacity: { storage: pvc.spec.resources?.requests?.storage ?? '1Gi' },
        accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: STORAGE_CLASS,
        volumeMode: pvc.spec.volumeMode ?? 'Filesystem',
        claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace, name, uid },
        hostPath: { path: `/var/lib/medaudit-sim/${uid}`, type: '' },
      },
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

export async function reclaim(kube: Kube, pv: Obj): Promise<void> {
  const ours = pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] === PROVISIONER;
  if (!ours || pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
  try {
    await kube.delete(`/api/v1/persistentvolumes/${pv.metadata.name}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
