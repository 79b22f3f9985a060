/**
 * Planned region maintenance (spec.regions[].maintenance), as pure steps the autoscaler takes
 * each pass. The region counts as out, like a failed region, so `failoverFloors` raises the
 * other regions' floors by its last known connections (failover.ts owns that, and the return of
 * the floors after the stabilization period). Then, level-based:
 *
 * - RaisingCapacity: until every other region that takes load is Ready with its raised floor;
 * - Draining: the region's Deployment goes to zero, so each pod drains as any deleted gateway
 *   pod does (preStop pause, then its clients are closed with 1012 over the drain window);
 * - InMaintenance: no pod is left; every object of the region is kept;
 * - Restoring (maintenance off, at any step): replicas return; the region stays out until it is
 *   Ready again, then the other floors return after the stabilization period;
 * - Complete: the floors returned.
 *
 * Once the Deployment is at zero it stays there while maintenance is on, whatever the other
 * regions do: a drained region is never refilled behind the operator's back.
 */
import type { FailoverStatus, MaintenanceStep, RegionMaintenanceStatus, RegionSpec, RegionStatus } from '../../crds/types.ts';

/** Why the region is out on purpose now, or undefined. */
export function maintenanceOut(region: RegionSpec, previous: RegionStatus | undefined, entry: FailoverStatus | undefined, min: number): string | undefined {
  if (region.maintenance) return 'is in planned maintenance';
  // Maintenance turned off: out until the region is Ready with its minimum again (the others' floors must not return while it is empty).
  if (entry?.maintenance && !entry.recoveredAt && !(previous?.phase === 'Ready' && (previous.readyReplicas ?? 0) >= min)) return 'is returning from planned maintenance';
  return undefined;
}

export interface TakerView {
  name: string;
  floor: number;
  previous: RegionStatus | undefined;
}

/** The regions taking the load that are not yet Ready with their raised floor, in words; empty when all are. */
export function takersNotReady(takers: TakerView[]): string[] {
  return takers
    .filter((t) => !(t.previous?.phase === 'Ready' && (t.previous.readyReplicas ?? 0) >= t.floor))
    .map((t) => `${t.name} (${t.previous?.readyReplicas ?? 0}/${t.floor} pods ready)`);
}

export interface MaintenanceInput {
  region: RegionSpec;
  /** The region's Deployment replicas now (undefined: not read). */
  current: number | undefined;
  /** This pass's failover entry of the region. */
  entry: FailoverStatus | undefined;
  previous: RegionStatus | undefined;
  /** From takersNotReady. */
  waitingFor: string[];
  /** The region's gateway pods (terminating included) and their connections at the last load read (pods undefined: not listed). */
  pods: number | undefined;
  connections: number;
  stabilizationMs: number;
}

export interface MaintenancePass {
  /** The region's Deployment goes (or stays) at zero. */
  atZero: boolean;
  /** Absent: the region never had maintenance. */
  status?: RegionMaintenanceStatus;
}

export function maintenanceStep(input: MaintenanceInput): MaintenancePass {
  const { region, entry, previous } = input;
  if (region.maintenance) {
    const held = entry?.connections ?? 0;
    if (input.current !== 0 && input.waitingFor.length > 0) {
      return { atZero: false, status: { step: 'RaisingCapacity', message: `the other regions keep room for ${held} connections; waiting for ${input.waitingFor.join(', ')}` } };
    }
    if (input.pods === undefined) {
      return { atZero: true, status: { step: 'Draining', message: 'replicas at zero; the pods left are not listed yet' } };
    }
    if (input.pods > 0) {
      return { atZero: true, status: { step: 'Draining', message: `${input.pods} pod(s) draining, ${input.connections} connection(s) left at the last read; each pod closes its clients with 1012 over its drain window` } };
    }
    return { atZero: true, status: { step: 'InMaintenance', message: `0 pods, objects kept; the other regions keep room for ${held} connections` } };
  }
  if (entry?.maintenance) {
    const message = entry.recoveredAt
      ? `serving again since ${entry.recoveredAt}; the other regions' floors return at ${new Date(Date.parse(entry.recoveredAt) + input.stabilizationMs).toISOString()}`
      : `maintenance off: ${previous?.readyReplicas ?? 0}/${previous?.desiredReplicas ?? 0} pods ready`;
    return { atZero: false, status: { step: 'Restoring', message } };
  }
  if (previous?.maintenance && previous.maintenance.step !== 'Complete') {
    return { atZero: false, status: { step: 'Complete', message: 'the region serves again and the other regions\' floors returned' } };
  }
  return { atZero: false, ...(previous?.maintenance ? { status: previous.maintenance } : {}) };
}

/** Active steps first: the condition's reason is the most pressing step of any region. */
const STEP_ORDER: MaintenanceStep[] = ['RaisingCapacity', 'Draining', 'Restoring', 'InMaintenance', 'Complete'];

/**
 * The cluster's Maintenance condition from its regions' maintenance: True while any region's
 * maintenance runs (reason: the most pressing step), False with reason Complete once all are
 * complete; absent when no region ever had maintenance.
 */
export function maintenanceCondition(regions: RegionStatus[]): { status: 'True' | 'False'; reason: MaintenanceStep; message: string } | undefined {
  const withMaintenance = regions.filter((r) => r.maintenance);
  if (withMaintenance.length === 0) return undefined;
  const reason = STEP_ORDER.find((step) => withMaintenance.some((r) => r.maintenance?.step === step)) ?? 'Complete';
  const message = withMaintenance.map((r) => `${r.name}: ${r.maintenance?.step} (${r.maintenance?.message})`).join('; ');
  return { status: reason === 'Complete' ? 'False' : 'True', reason, message };
}

/**
 * The public endpoints a region in maintenance sends its clients to: the serving regions that
 * declare `endpoint`, in the region's `fallbackRegions` order (the rest after, in spec order).
 */
export function reconnectEndpoints(regions: RegionSpec[], region: RegionSpec, serving: Set<string>): string[] {
  const preferred = region.fallbackRegions ?? [];
  const rank = (r: RegionSpec) => (preferred.includes(r.name) ? preferred.indexOf(r.name) : preferred.length + regions.indexOf(r));
  return regions
    .filter((r) => r.name !== region.name && serving.has(r.name) && r.endpoint)
    .sort((a, b) => rank(a) - rank(b))
    .map((r) => r.endpoint as string);
}
