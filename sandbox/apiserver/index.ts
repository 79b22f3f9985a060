/** The sandbox Kubernetes API emulator: start one per emulated cluster (region). */
export { startApiServer } from './server.ts';
export type { ApiServerFaults, ApiServerHandle, ApiServerOptions, FailureStatus } from './server.ts';
export type { PodRunner, RunningPod } from './controllers/pods.ts';
