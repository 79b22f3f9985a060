/** A cluster's autoscaling fields with their defaults applied (crds/schema.ts DEFAULTS), in ms. */
import { DEFAULTS } from '../../crds/schema.ts';
import type { AutoscalingSpec } from '../../crds/types.ts';

export interface ScalingSettings {
  targetConnectionsPerPod: number;
  headroomPercent: number;
  headroomConnections: number;
  scaleUpWindowMs: number;
  scaleDownWindowMs: number;
  scaleUpMaxPods: number;
  scaleDownMaxPods: number;
  maxDrainSharePercent: number;
  eventLoopLagThresholdMs: number;
  outboundQueueThresholdBytes: number;
  failoverStabilizationMs: number;
  rebalance: { enabled: boolean; tolerancePercent: number; maxShedPerMinute: number };
}

export function scalingSettings(spec: AutoscalingSpec | undefined): ScalingSettings {
  const a = spec ?? {};
  return {
    targetConnectionsPerPod: a.targetConnectionsPerPod ?? DEFAULTS.targetConnectionsPerPod,
    headroomPercent: a.headroomPercent ?? DEFAULTS.headroomPercent,
    headroomConnections: a.headroomConnections ?? DEFAULTS.headroomConnections,
    scaleUpWindowMs: (a.scaleUpStabilizationSeconds ?? DEFAULTS.scaleUpStabilizationSeconds) * 1000,
    scaleDownWindowMs: (a.scaleDownStabilizationSeconds ?? DEFAULTS.scaleDownStabilizationSeconds) * 1000,
    scaleUpMaxPods: a.scaleUpMaxPods ?? DEFAULTS.scaleUpMaxPods,
    scaleDownMaxPods: a.scaleDownMaxPods ?? DEFAULTS.scaleDownMaxPods,
    maxDrainSharePercent: a.maxDrainSharePercent ?? DEFAULTS.maxDrainSharePercent,
    eventLoopLagThresholdMs: a.eventLoopLagThresholdMs ?? DEFAULTS.eventLoopLagThresholdMs,
    outboundQueueThresholdBytes: a.outboundQueueThresholdBytes ?? DEFAULTS.outboundQueueThresholdBytes,
    failoverStabilizationMs: (a.failoverStabilizationSeconds ?? DEFAULTS.failoverStabilizationSeconds) * 1000,
    rebalance: {
      enabled: a.rebalance?.enabled ?? DEFAULTS.rebalanceEnabled,
      tolerancePercent: a.rebalance?.tolerancePercent ?? DEFAULTS.rebalanceTolerancePercent,
      maxShedPerMinute: a.rebalance?.maxShedPerMinute ?? DEFAULTS.rebalanceMaxShedPerMinute,
    },
  };
}
