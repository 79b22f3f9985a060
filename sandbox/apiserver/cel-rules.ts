/**
 * `x-kubernetes-validations` of CRD schemas: checked when a CRD is written (every rule must
 * compile with cel.ts, else the CRD is refused with 422 naming the rule, so no rule is silently
 * skipped) and enforced on custom resources, with apiextensions-apiserver's wording:
 * `spec: Invalid value: "object": <message>` (or Required/Forbidden/Duplicate per `reason`),
 * at `fieldPath` when the rule names one.
 */
import { CelError, compileCel, evaluateCel } from './cel.ts';
import type { StatusCause } from './errors.ts';
import type { KubeObject } from './registry.ts';
import type { StructuralSchema } from './validation.ts';

export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

const rulesOf = (schema: StructuralSchema): CelRule[] => ((schema as Record<string, unknown>)['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every schema node of a CRD version with its path in the CRD (for registration errors). */
function* nodes(schema: StructuralSchema | undefined, path: string): Generator<[StructuralSchema, string]> {
  if (!schema) return;
  yield [schema, path];
  for (const [key, sub] of Object.entries(schema.properties ?? {})) yield* nodes(sub, `${path}.properties[${key}]`);
  if (schema.items) yield* nodes(schema.items, `${path}.items`);
  if (isMap(schema.additionalProperties)) yield* nodes(schema.additionalProperties as StructuralSchema, `${path}.additionalProperties`);
}

/** Rules of a CRD that the emulator cannot enforce: each is a 422 cause at registration. */
export function unsupportedCelRules(crd: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  ((crd.spec?.versions ?? []) as KubeObject[]).forEach((version, i) => {
    for (const [node, path] of nodes(version.schema?.openAPIV3Schema, `spec.versions[${i}].schema.openAPIV3Schema`)) {
      rulesOf(node).forEach((rule, j) => {
        const field = `${path}.x-kubernetes-validations[${j}]`;
        const refuse = (why: string) =>
          causes.push({ reason: 'FieldValueInvalid', field: `${field}.rule`, message: `Invalid value: ${JSON.stringify(rule.rule)}: the sandbox API server cannot enforce this rule: ${why} (docs/sandbox.md lists the forms it evaluates)` });
        if (rule.messageExpression !== undefined) refuse('messageExpression is not supported; use message');
        else if (typeof rule.rule !== 'string') refuse('rule must be a string');
        else {
          try {
            compileCel(rule.rule);
          } catch (error) {
            if (!(error instanceof CelError)) throw error;
            refuse(error.message);
          }
        }
      });
    }
  });
  return causes;
}

function describe(reason: string | undefined, type: string, message: string): string {
  switch (reason) {
    case 'FieldValueRequired':
      return `Required value: ${message}`;
    case 'FieldValueForbidden':
      return `Forbidden: ${message}`;
    case 'FieldValueDuplicate':
      return `Duplicate value: ${JSON.stringify(type)}: ${message}`;
    default:
      return `Invalid value: ${JSON.stringify(type)}: ${message}`;
  }
}

/** The causes of every rule that `value` (at `path`, '' for the root) breaks. */
export function celCauses(schema: StructuralSchema, value: unknown, path = ''): StatusCause[] {
  if (value === undefined || value === null) return [];
  const causes: StatusCause[] = [];
  const type = schema.type ?? (Array.isArray(value) ? 'array' : typeof value);
  for (const rule of rulesOf(schema)) {
    const field = `${path}${rule.fieldPath ?? ''}`.replace(/^\./, '') || '<root>';
    try {
      const result = evaluateCel(compileCel(rule.rule), value);
      if (result !== true) {
        const message = rule.message ?? `failed rule: ${rule.rule}`;
        causes.push({ reason: rule.reason ?? 'FieldValueInvalid', field, message: describe(rule.reason, type, message) });
      }
    } catch (error) {
      if (!(error instanceof CelError)) throw error;
      causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(type)}: ${error.message} evaluating rule: ${rule.rule}` });
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((item, i) => causes.push(...celCauses(schema.items!, item, `${path}[${i}]`)));
  if (isMap(value)) {
    for (const [key, child] of Object.entries(value)) {
      const sub = (schema.properties && Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined) ?? (isMap(schema.additionalProperties) ? (schema.additionalProperties as StructuralSchema) : undefined);
      if (sub) causes.push(...celCauses(sub, child, path ? `${path}.${key}` : key));
    }
  }
  return causes;
}
