/**
 * The official Python Kubernetes client (Debian's python3-kubernetes, run by /usr/bin/python3)
 * against the API emulator: a second client no one here wrote, for conformance checks.
 * `runPython` runs a script with `api` (a kubernetes.client.ApiClient on the emulator's
 * kubeconfig), `call(fn, *args, **kwargs)` (an ApiException becomes
 * {"status", "reason", "body", "headers"}) and `emit(value)` in scope; what the script emits comes
 * back as JSON. A machine without the client skips loudly (fails under CI=true).
 */
import { execFile, spawnSync } from 'node:child_process';
import { skipUnless } from './services.ts';

export const PYTHON = '/usr/bin/python3';

/** How long one Python script may take on a busy machine. */
const SCRIPT_TIMEOUT_MS = 60_000;

export function hasPythonKubernetes(): boolean {
  return spawnSync(PYTHON, ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0;
}

export function skipUnlessPythonKubernetes(purpose: string): string | false {
  return skipUnless({ binary: `the Python Kubernetes client for ${PYTHON}`, install: 'apt-get install -y python3-kubernetes', present: hasPythonKubernetes }, purpose);
}

const PRELUDE = `
import json, sys, warnings
warnings.filterwarnings("ignore")
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
api = config.new_client_from_config(config_file=sys.argv[1])
def to_json(value):
    if hasattr(value, "to_dict"):
        return api.sanitize_for_serialization(value)
    return value
def call(fn, *args, **kwargs):
    try:
        return to_json(fn(*args, **kwargs))
    except ApiException as e:
        try:
            body = json.loads(e.body)
        except Exception:
            body = e.body
        return {"status": e.status, "reason": e.reason, "body": body, "headers": dict(e.headers or {})}
def emit(value):
    print("\\n" + json.dumps(to_json(value), default=str))
`;

/** Runs `script` (Python, using the prelude above) and returns what it emitted last, parsed. */
export function runPython(kubeconfigPath: string, script: string): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ['-c', `${PRELUDE}\n${script}`, kubeconfigPath], { timeout: SCRIPT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`python failed: ${error.message}\n${stderr}`));
        return;
      }
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`python emitted no JSON: ${stdout}\n${stderr}`));
      }
    });
  });
}
