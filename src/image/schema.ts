// Manifests, indexes and configs checked against the OCI image-spec's JSON schemas
// (oci-schema/, vendored verbatim), on top of the size and count limits the parsers apply.
// Docker's v2 manifests and manifest lists have the same shape and are checked by the
// same schemas. The validators are compiled on first use: commands that never read an
// image document do not pay for ajv.
import AjvDraft04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import manifestSchema from './oci-schema/image-manifest-schema.json';
import indexSchema from './oci-schema/image-index-schema.json';
import configSchema from './oci-schema/config-schema.json';
import descriptorSchema from './oci-schema/content-descriptor.json';
import defsSchema from './oci-schema/defs.json';
import defsDescriptorSchema from './oci-schema/defs-descriptor.json';

export type SchemaKind = 'manifest' | 'index' | 'config';

const BASE = 'https://opencontainers.org/schema/vendored/';

/**
 * The spec's files give nested schemas `id`s of their own (draft-04), which would move the
 * base that the `$ref`s between files ("defs.json#/...") resolve against; the spec's own Go
 * validator maps them by hand. Here every file gets one base URI and no nested ids.
 */
function rebased(schema: unknown, name: string): Record<string, unknown> {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (k !== 'id') o[k] = strip(x);
      return o;
    }
    return v;
  };
  return { ...(strip(schema) as Record<string, unknown>), id: BASE + name };
}

let validators: Record<SchemaKind, ValidateFunction> | null = null;

function compiled(): Record<SchemaKind, ValidateFunction> {
  if (validators) return validators;
  const ajv = new AjvDraft04({ allErrors: false, strict: false });
  addFormats(ajv, ['date-time', 'uri']);
  ajv.addSchema(rebased(defsSchema, 'defs.json'));
  ajv.addSchema(rebased(defsDescriptorSchema, 'defs-descriptor.json'));
  ajv.addSchema(rebased(descriptorSchema, 'content-descriptor.json'));
  validators = {
    manifest: ajv.compile(rebased(manifestSchema, 'image-manifest-schema.json')),
    index: ajv.compile(rebased(indexSchema, 'image-index-schema.json')),
    config: ajv.compile(rebased(configSchema, 'config-schema.json')),
  };
  return validators;
}

/** One error as a phrase: where in the document ("layers[0].digest") and what is wrong. */
function describe(e: ErrorObject, doc: unknown): string {
  const where = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
  const p = e.params as Record<string, unknown>;
  let what: string;
  switch (e.keyword) {
    case 'required':
      return `${where ? where + '.' : ''}${String(p.missingProperty)} is missing`;
    case 'type':
      what = `must be ${String(p.type)}`;
      break;
    case 'minimum':
    case 'maximum':
      what = `must be ${e.keyword === 'minimum' ? '>=' : '<='} ${String(p.limit)}`;
      break;
    case 'pattern':
      what = `is not a valid ${/digest$/.test(where) ? 'digest (algorithm:hex)' : /mediaType$|artifactType$/.test(where) ? 'media type' : `value (pattern ${String(p.pattern)})`}`;
      break;
    case 'enum':
      what = `must be one of ${JSON.stringify(p.allowedValues)}`;
      break;
    case 'format':
      what = `is not a valid ${String(p.format)}`;
      break;
    case 'oneOf':
    case 'anyOf':
      what = 'has the wrong type';
      break;
    default:
      what = e.message ?? e.keyword;
  }
  let value = '';
  try {
    const v = e.instancePath
      .split('/')
      .slice(1)
      .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
    const s = JSON.stringify(v);
    if (s !== undefined && e.keyword !== 'oneOf' && e.keyword !== 'anyOf') value = ` (${s.length > 60 ? s.slice(0, 57) + '...' : s})`;
  } catch {
    /* cyclic cannot happen for parsed JSON */
  }
  return `${where || 'the document'} ${what}${value}`;
}

/**
 * Throws a one-line error naming WHAT and what is wrong when DOC does not satisfy the
 * image-spec's schema for its kind. schemaVersion must be 2 for manifests and indexes.
 */
export function checkSchema(kind: SchemaKind, doc: unknown, what: string): void {
  const v = compiled()[kind];
  if (v(doc)) return;
  const errs = v.errors ?? [];
  // a oneOf reports its branches' errors first: the oneOf itself names the field
  const e = errs.find((x) => x.keyword === 'oneOf') ?? errs[0];
  throw new Error(`${what} does not follow the OCI image spec: ${e ? describe(e, doc) : 'invalid'}`);
}
