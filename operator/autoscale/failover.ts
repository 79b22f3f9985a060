/**
 * Failover capacity: while a region is Unknown or Degraded, its users reconnect to the other
 * regions, so those keep room for them. Each healthy region's floor rises by its part of the
 * failed region's last known connections (parts in proportion to the regions' own connections,
 * equal parts when none has any), within its maximum; what one region cannot take is offered to
 * the others. The floors return once the failed region has been healthy for a stabilization
 * period. Nothing here deletes or recreates anything: a returning region is only seen again.
 *
 * Pure functions: the autoscaler uses them each load period, and region maintenance (draining a
 * region on purpose) can use `failoverFloors` to raise the others' floors before it starts.
 */
import type { FailoverStatus } from '../../crds/types.ts';

export interface RegionCapacity {
  name: string;
  /** The region's connections now. */
  connections: number;
  min: number;
  max: number;
}

export interface LostCapacity {
  region: string;
  connections: number;
}

export interface RaisedFloor {
  /** Fewest pods, the region's minimum raised by its part. */
  floor: number;
  /** Connections of failed regions this region keeps room for. */
  extraConnections: number;
}

/**
 * Raises other regions' floors by failed regions' last known connections: the one function
 * for failover and planned maintenance alike. `healthy` are the regions that take the load.
 */
export function failoverFloors(healthy: RegionCapacity[], lost: LostCapacity[], targetConnectionsPerPod: number): Map<string, RaisedFloor> {
  const extra = new Map<string, number>(healthy.map((r) => [r.name, 0]));
  let remaining = lost.reduce((sum, l) => sum + Math.max(0, l.connections), 0);
  // Room in connections above each region's minimum, up to its maximum.
  const room = (r: RegionCapacity) => Math.max(0, (r.max - r.min) * targetConnectionsPerPod - (extra.get(r.name) ?? 0));
  for (let pass = 0; pass < healthy.length && remaining >= 1; pass++) {
    const open = healthy.filter((r) => room(r) >= 1);
    if (open.length === 0) break;
    const total = open.reduce((sum, r) => sum + r.connections, 0);
    let given = 0;
    for (const r of open) {
      const share = total > 0 ? r.connections / total : 1 / open.length;
      const give = Math.min(room(r), Math.ceil(remaining * share));
      extra.set(r.name, (extra.get(r.name) ?? 0) + give);
      given += give;
    }
    remaining = Math.max(0, remaining - given);
  }
  return new Map(
    healthy.map((r) => {
      const extraConnections = extra.get(r.name) ?? 0;
      return [r.name, { floor: Math.min(r.max, r.min + Math.ceil(extraConnections / targetConnectionsPerPod)), extraConnections }];
    }),
  );
}

export interface RegionHealthView {
  name: string;
  /** Unknown or Degraded now. */
  failing: boolean;
  /** The region's last known connections (its status keeps them while it is Unknown). */
  connections: number;
  /** Why it fails, for the message. */
  why: string;
  /** Out on purpose (planned maintenance): the entry says so. */
  maintenance?: boolean;
}

export interface FailoverChange {
  kind: 'Raised' | 'Recovering' | 'Returned';
  region: string;
  message: string;
}

/**
 * The next failover list from the previous one and what is seen now: a region that starts
 * failing is added with its last known connections; one seen healthy gets `recoveredAt`; one
 * healthy for `stabilizationMs` since is removed (floors return). Failing again clears recoveredAt.
 */
export function nextFailover(previous: FailoverStatus[], regions: RegionHealthView[], now: Date, stabilizationMs: number): { entries: FailoverStatus[]; changes: FailoverChange[] } {
  const entries: FailoverStatus[] = [];
  const changes: FailoverChange[] = [];
  const iso = now.toISOString();
  for (const region of regions) {
    const before = previous.find((f) => f.region === region.name);
    if (region.failing) {
      if (!before) {
        const message = `${region.name} ${region.why}: the other regions keep room for its ${region.connections} connections`;
        entries.push({ region: region.name, connections: region.connections, since: iso, ...(region.maintenance ? { maintenance: true } : {}), message });
        changes.push({ kind: 'Raised', region: region.name, message });
      } else {
        const { recoveredAt: _gone, ...still } = before;
        entries.push(before.recoveredAt ? { ...still, message: `${region.name} ${region.why} again: the other regions keep room for its ${before.connections} connections` } : before);
      }
      continue;
    }
    if (!before) continue;
    if (!before.recoveredAt) {
      const message = `${region.name} is healthy again; the other regions' floors return after ${Math.round(stabilizationMs / 1000)} s healthy`;
      entries.push({ ...before, recoveredAt: iso, message });
      changes.push({ kind: 'Recovering', region: region.name, message });
    } else if (now.getTime() - Date.parse(before.recoveredAt) >= stabilizationMs) {
      changes.push({ kind: 'Returned', region: region.name, message: `${region.name} has been healthy since ${before.recoveredAt}: the other regions' floors return` });
    } else {
      entries.push(before);
    }
  }
  return { entries, changes };
}
