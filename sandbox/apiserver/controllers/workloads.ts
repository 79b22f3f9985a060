/**
 * The workload controllers kube-controller-manager would run, started together: Deployments
 * (owning ReplicaSets), ReplicaSets (owning Pods) and the disruption controller (PDB status).
 */
import type { Registry } from '../registry.ts';
import type { Resources } from '../resources.ts';
import type { Store } from '../store.ts';
import { DeploymentController } from './deployments.ts';
import { DisruptionController } from './disruption.ts';
import { ReplicaSetController } from './replica-sets.ts';

export class WorkloadControllers {
  private readonly controllers: Array<{ stop(): void }>;

  constructor(deps: { registry: Registry; store: Store; resources: Resources; now: () => Date; onError: (error: unknown) => void }, retryDelayMs: number) {
    this.controllers = [new DeploymentController(deps, retryDelayMs), new ReplicaSetController(deps, retryDelayMs), new DisruptionController(deps, retryDelayMs)];
  }

  stop(): void {
    for (const controller of this.controllers) controller.stop();
  }
}
