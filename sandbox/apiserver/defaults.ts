/**
 * Defaults kube-apiserver fills in for the built-in kinds the operator uses (a subset: the
 * fields that show up in diffs and that controllers read).
 */
import type { KubeObject, ResourceType } from './registry.ts';

let nextClusterIp = 10;

function defaultPodSpec(spec: KubeObject | undefined): void {
  if (!spec) return;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  for (const c of (spec.containers ?? []) as KubeObject[]) {
    c.imagePullPolicy ??= String(c.image ?? '').endsWith(':latest') || !String(c.image ?? '').includes(':') ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    for (const p of (c.ports ?? []) as KubeObject[]) p.protocol ??= 'TCP';
  }
}

export function applyBuiltinDefaults(type: ResourceType, obj: KubeObject): void {
  if (type.schema) return;
  switch (`${type.group}/${type.kind}`) {
    case '/Namespace':
      obj.spec = { finalizers: ['kubernetes'], ...obj.spec };
      obj.status ??= { phase: 'Active' };
      break;
    case '/Secret':
      obj.type ??= 'Opaque';
      break;
    case '/Service': {
      const spec = (obj.spec ??= {});
      spec.type ??= 'ClusterIP';
      spec.sessionAffinity ??= 'None';
      if (spec.clusterIP === undefined) {
        const n = nextClusterIp++;
        spec.clusterIP = `10.96.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
        spec.clusterIPs = [spec.clusterIP];
      }
      for (const p of (spec.ports ?? []) as KubeObject[]) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      break;
    }
    case '/Pod':
      defaultPodSpec(obj.spec);
      break;
    case 'apps/ReplicaSet': {
      const spec = (obj.spec ??= {});
      spec.replicas ??= 1;
      defaultPodSpec(spec.template?.spec);
      break;
    }
    case 'apps/Deployment': {
      const spec = (obj.spec ??= {});
      spec.replicas ??= 1;
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
      defaultPodSpec(spec.template?.spec);
      break;
    }
    default:
      break;
  }
}
