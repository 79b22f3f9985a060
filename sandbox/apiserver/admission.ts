/**
 * Admission of an object about to be stored, in kube-apiserver's order: for custom resources
 * prune unknown fields (reported per fieldValidation), apply schema defaults, validate the
 * schema, then its CEL rules (cel-rules.ts); for built-ins the kind's own validation; for every kind ObjectMeta
 * validation and, on updates, the kind's update-only rules. All causes together make one 422.
 */
import { celCauses } from './cel-rules.ts';
import { invalid, type StatusCause } from './errors.ts';
import { reportUnknown, validateObjectMeta } from './metadata.ts';
import type { KubeObject, ResourceType } from './registry.ts';
import type { WriteOptions } from './resources.ts';
import { strategyOf } from './strategies.ts';
import { applyDefaults, prune, validateValue } from './validation.ts';

/** `old`: the stored object when this is an update of the main resource (not /status). */
export function admit(type: ResourceType, obj: KubeObject, options: WriteOptions, old?: KubeObject): void {
  const causes: StatusCause[] = validateObjectMeta(obj);
  if (type.schema) {
    reportUnknown(type, prune(type.schema, obj), options.fieldValidation, options.warn);
    applyDefaults(type.schema, obj);
    const { apiVersion: _a, kind: _k, metadata: _m, ...content } = obj;
    const schemaWithoutMeta = { ...type.schema, properties: { ...type.schema.properties } };
    delete schemaWithoutMeta.properties.metadata;
    delete schemaWithoutMeta.properties.apiVersion;
    delete schemaWithoutMeta.properties.kind;
    const schemaCauses = validateValue(schemaWithoutMeta, content);
    causes.push(...schemaCauses);
    // Rules assume a schema-valid object (kube-apiserver skips them when the schema fails).
    if (schemaCauses.length === 0) causes.push(...celCauses(schemaWithoutMeta, content));
  } else if (type.validate) {
    causes.push(...type.validate(obj).map((c) => ({ reason: 'FieldValueInvalid', ...c })));
  }
  if (old) causes.push(...(strategyOf(type).validateUpdate?.(obj, old) ?? []));
  if (causes.length > 0) throw invalid(type.kind, type.group, obj.metadata?.name ?? '', causes);
}
