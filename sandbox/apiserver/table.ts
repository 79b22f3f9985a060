/**
 * `meta.k8s.io/v1` Table responses, as `kubectl get` asks for them: printer columns of CRDs
 * (a JSONPath subset: `.a.b`, `[0]`, `[*]`, `[?(@.k=="v")]`) and computed columns of built-ins.
 */
import { hasOwn, own } from './own.ts';
import type { KubeObject, PrinterColumn, ResourceType } from './registry.ts';

/** kubectl's short ages: 45s, 3m12s, 5h, 2d. */
export function humanAge(from: string | undefined, now: Date): string {
  if (!from) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 ? `${seconds % 60}s` : ''}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

type Step = { name: string } | { index: number } | { all: true } | { filter: { key: string; value: string } };

function parseJsonPath(path: string): Step[] {
  const steps: Step[] = [];
  const re = /\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["']([^"']*)["']\)\]|\['([^']+)'\]/g;
  const body = path.trim().replace(/^\{|\}$/g, '').replace(/^\$/, '');
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    if (m[1] !== undefined) steps.push({ name: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ filter: { key: m[3], value: m[4] } });
    else if (m[5] !== undefined) steps.push({ name: m[5] });
    else steps.push({ all: true });
  }
  return steps;
}

export function evaluateJsonPath(obj: unknown, path: string): unknown[] {
  let values: unknown[] = [obj];
  for (const step of parseJsonPath(path)) {
    const next: unknown[] = [];
    for (const v of values) {
      if ('name' in step) {
        if (v && typeof v === 'object' && !Array.isArray(v) && hasOwn(v, step.name)) next.push(own(v, step.name));
      } else if ('index' in step) {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else if ('all' in step) {
        if (Array.isArray(v)) next.push(...v);
        else if (v && typeof v === 'object') next.push(...Object.values(v));
      } else if (Array.isArray(v)) {
        for (const item of v) {
          let field: any = item;
          for (const part of step.filter.key.split('.')) field = own(field, part);
          if (String(field) === step.filter.value) next.push(item);
        }
      }
    }
    values = next;
  }
  return values.filter((v) => v !== undefined);
}

function cell(column: PrinterColumn, obj: KubeObject, now: Date): unknown {
  let value: unknown;
  if (column.compute) value = column.compute(obj);
  else {
    const values = evaluateJsonPath(obj, column.jsonPath ?? '');
    value = values.length === 0 ? undefined : values.length === 1 ? values[0] : values.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',');
  }
  if (value === undefined || value === null) return column.type === 'integer' || column.type === 'number' ? null : '';
  if (column.type === 'date' || column.name === 'Age') return humanAge(String(value), now);
  if (typeof value === 'object') return JSON.stringify(value);
  return value;
}

export function toTable(type: ResourceType, objects: KubeObject[], meta: { resourceVersion: string; continue?: string }, includeObject: string | null, now: Date): KubeObject {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: meta.resourceVersion, ...(meta.continue ? { continue: meta.continue } : {}) },
    columnDefinitions: type.columns.map((c) => ({ name: c.name, type: c.type === 'date' ? 'string' : c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
    rows: objects.map((obj) => ({
      cells: type.columns.map((c) => cell(c, obj, now)),
      object:
        includeObject === 'None'
          ? undefined
          : includeObject === 'Object'
            ? obj
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata },
    })),
  };
}

/** Columns for a CRD version: Name, its additionalPrinterColumns, and Age unless it has one. */
export function crdColumns(printerColumns: KubeObject[] | undefined): PrinterColumn[] {
  const columns: PrinterColumn[] = [{ name: 'Name', type: 'string', format: 'name', description: 'Name', jsonPath: '.metadata.name' }];
  for (const c of printerColumns ?? []) {
    columns.push({ name: c.name, type: c.type ?? 'string', format: c.format, description: c.description ?? '', priority: c.priority ?? 0, jsonPath: c.jsonPath });
  }
  if (!printerColumns?.length) columns.push({ name: 'Age', type: 'date', description: 'CreationTimestamp', jsonPath: '.metadata.creationTimestamp' });
  return columns;
}
