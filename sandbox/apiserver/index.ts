/** The sandbox Kubernetes API emulator: start one per emulated cluster (region). */
export { startApiServer } from './server.ts';
export type { ApiServerFaults, ApiServerHandle, ApiServerOptions, FailureStatus } from './server.ts';
export type { PodHost, PodReport, PodRunner, RunningPod, TerminatedReport } from './controllers/pods.ts';
export { METRICS_PORT_ANNOTATION, PORT_ANNOTATION } from './controllers/pods.ts';
export { processRunner } from './controllers/process-runner.ts';
export type { ProcessRunner, ProcessRunnerOptions, RunnerProcess } from './controllers/process-runner.ts';
