/**
 * Structural-schema handling for custom resources, in kube-apiserver's order: prune unknown
 * fields, apply defaults, then validate. Messages follow apiextensions-apiserver's wording so
 * that tests and users see what a real cluster would print.
 * CEL rules are in cel-rules.ts. Not implemented: most `format`s, oneOf/anyOf/not.
 */
import { hasOwn, own } from './own.ts';

export interface StructuralSchema {
  type?: string;
  properties?: Record<string, StructuralSchema>;
  items?: StructuralSchema;
  additionalProperties?: boolean | StructuralSchema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  format?: string;
  default?: unknown;
  nullable?: boolean;
  description?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

export interface FieldError {
  field: string;
  reason: string;
  message: string;
}

type Json = any;

/** The schema of a property: declared, else additionalProperties (never an inherited key of `properties`). */
function propertySchema(schema: StructuralSchema, key: string): StructuralSchema | undefined {
  return own(schema.properties, key) ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
}

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** How apimachinery's field errors print a value. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (isObject(value)) return `map[string]interface {}${JSON.stringify(value)}`;
  return JSON.stringify(value);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validateMetadataName(name: unknown): Array<{ field: string; message: string }> {
  if (typeof name !== 'string' || name === '') return [{ field: 'metadata.name', message: 'Required value: name or generateName is required' }];
  if (name.length > 253) return [{ field: 'metadata.name', message: `Invalid value: ${show(name)}: must be no more than 253 characters` }];
  if (DNS_SUBDOMAIN.test(name)) return [];
  return [
    {
      field: 'metadata.name',
      message: `Invalid value: ${show(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    },
  ];
}

/**
 * Removes fields the schema does not know, in place, and returns their paths (for
 * fieldValidation=Strict/Warn). Root apiVersion/kind/metadata are kept.
 */
export function prune(schema: StructuralSchema, value: Json, root = true, path = '', removed: string[] = []): string[] {
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((item, i) => prune(schema.items!, item, false, `${path}[${i}]`, removed));
    return removed;
  }
  if (!isObject(value)) return removed;
  if (!root && schema['x-kubernetes-embedded-resource']) {
    // Embedded objects keep apiVersion/kind/metadata like a root.
    return prune({ ...schema, 'x-kubernetes-embedded-resource': false }, value, true, path, removed);
  }
  for (const [key, child] of Object.entries(value)) {
    if (root && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue;
    const sub = propertySchema(schema, key);
    if (sub) prune(sub, child, false, join(path, key), removed);
    else if (schema.additionalProperties === true || schema['x-kubernetes-preserve-unknown-fields']) continue;
    else {
      delete value[key];
      removed.push(join(path, key));
    }
  }
  return removed;
}

/** Fills absent (or null, when not nullable) properties that have a default, in place. */
export function applyDefaults(schema: StructuralSchema, value: Json): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) applyDefaults(schema.items, item);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const missing = !hasOwn(value, key) || (value[key] === null && !sub.nullable);
    if (missing && sub.default !== undefined) value[key] = structuredClone(sub.default);
    if (hasOwn(value, key)) applyDefaults(sub, value[key]);
  }
  if (isObject(schema.additionalProperties)) {
    for (const [key, child] of Object.entries(value)) {
      if (!hasOwn(schema.properties, key)) applyDefaults(schema.additionalProperties, child);
    }
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Validates a value against the schema; returns every error found (empty: valid). */
export function validateValue(schema: StructuralSchema, value: Json, path = ''): FieldError[] {
  const errors: FieldError[] = [];
  const add = (reason: string, message: string, field = path) => errors.push({ field, reason, message });
  const where = path || '<root>';

  if (value === null) {
    if (!schema.nullable) add('FieldValueTypeInvalid', `Invalid value: "null": ${where} in body must be of type ${schema.type ?? 'object'}: "null"`);
    return errors;
  }
  const actual = typeName(value);
  if (schema['x-kubernetes-int-or-string']) {
    if (actual !== 'integer' && actual !== 'string') add('FieldValueTypeInvalid', `Invalid value: ${show(actual)}: ${where} in body must be of type integer,string: ${show(actual)}`);
  } else if (schema.type) {
    const ok = schema.type === actual || (schema.type === 'number' && actual === 'integer');
    if (!ok) {
      add('FieldValueTypeInvalid', `Invalid value: ${show(actual)}: ${where} in body must be of type ${schema.type}: ${show(actual)}`);
      return errors;
    }
  }

  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    add('FieldValueNotSupported', `Unsupported value: ${show(value)}: supported values: ${schema.enum.map(show).join(', ')}`);
  }
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && value.length > schema.maxLength) add('FieldValueTooLong', `Too long: may not be more than ${schema.maxLength} bytes`);
    if (schema.minLength !== undefined && value.length < schema.minLength) add('FieldValueInvalid', `Invalid value: ${show(value)}: ${where} in body should be at least ${schema.minLength} chars long`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) add('FieldValueInvalid', `Invalid value: ${show(value)}: ${where} in body should match '${schema.pattern}'`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined) {
      if (schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum) {
        add('FieldValueInvalid', `Invalid value: ${value}: ${where} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}`);
      }
    }
    if (schema.maximum !== undefined) {
      if (schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum) {
        add('FieldValueInvalid', `Invalid value: ${value}: ${where} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}`);
      }
    }
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) add('FieldValueTooMany', `Too many: ${value.length}: must have at most ${schema.maxItems} items`);
    if (schema.minItems !== undefined && value.length < schema.minItems) add('FieldValueInvalid', `Invalid value: ${value.length}: ${where} in body should have at least ${schema.minItems} items`);
    if (schema.items) value.forEach((item, i) => errors.push(...validateValue(schema.items!, item, `${path}[${i}]`)));
    errors.push(...listUniqueness(schema, value, path));
  }
  if (isObject(value)) {
    const count = Object.keys(value).length;
    if (schema.maxProperties !== undefined && count > schema.maxProperties) add('FieldValueTooMany', `Too many: ${count}: must have at most ${schema.maxProperties} items`);
    if (schema.minProperties !== undefined && count < schema.minProperties) add('FieldValueInvalid', `Invalid value: ${count}: ${where} in body should have at least ${schema.minProperties} properties`);
    for (const key of schema.required ?? []) {
      if (!hasOwn(value, key)) add('FieldValueRequired', 'Required value', join(path, key));
    }
    for (const [key, child] of Object.entries(value)) {
      const sub = propertySchema(schema, key);
      if (sub) errors.push(...validateValue(sub, child, join(path, key)));
    }
  }
  return errors;
}

/** x-kubernetes-list-type: map (unique keys) and set (unique values). */
function listUniqueness(schema: StructuralSchema, list: Json[], path: string): FieldError[] {
  const type = schema['x-kubernetes-list-type'];
  if (type !== 'map' && type !== 'set') return [];
  const keys = schema['x-kubernetes-list-map-keys'] ?? [];
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  list.forEach((item, i) => {
    const identity = type === 'map' && isObject(item) ? Object.fromEntries(keys.map((k) => [k, item[k]])) : item;
    const id = JSON.stringify(identity);
    if (seen.has(id)) errors.push({ field: `${path}[${i}]`, reason: 'FieldValueDuplicate', message: `Duplicate value: ${show(identity)}` });
    seen.add(id);
  });
  return errors;
}

/** A CRD version's schema is structural enough to serve: a root of type object. */
export function checkStructural(schema: StructuralSchema | undefined, path: string): FieldError[] {
  if (!schema) return [{ field: path, reason: 'FieldValueRequired', message: 'Required value: schemas are required' }];
  const errors: FieldError[] = [];
  if (schema.type !== 'object') errors.push({ field: `${path}.type`, reason: 'FieldValueInvalid', message: `Invalid value: ${show(schema.type ?? '')}: must be object at the root` });
  const walk = (s: StructuralSchema, p: string): void => {
    if (!s.type && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields']) {
      errors.push({ field: `${p}.type`, reason: 'FieldValueRequired', message: 'Required value: must not be empty for specified object fields' });
    }
    for (const [k, sub] of Object.entries(s.properties ?? {})) walk(sub, `${p}.properties[${k}]`);
    if (s.items) walk(s.items, `${p}.items`);
    if (isObject(s.additionalProperties)) walk(s.additionalProperties as StructuralSchema, `${p}.additionalProperties`);
  };
  for (const [k, sub] of Object.entries(schema.properties ?? {})) walk(sub, `${path}.properties[${k}]`);
  return errors;
}
