/** An error in OpenAI's body shape, with its HTTP status. */
export interface ApiError {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
}

/** OpenAI's error type for a status: 4xx are the client's, 5xx the server's. */
function errorType(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status === 404) return 'not_found_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Builds an error answer; `param` names the request field at fault. */
export function apiError(status: number, message: string, code: string | null, param: string | null): ApiError {
  return { status, body: { error: { message, type: errorType(status), param, code } } };
}

interface FastifyValidationItem {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: { missingProperty?: string; allowedValues?: unknown[] };
}

/**
 * The field a fastify/ajv validation failure is about, as OpenAI names it ("max_tokens",
 * "messages.0.role"), and a message that says what was expected.
 */
export function validationError(items: FastifyValidationItem[]): ApiError {
  const v = items[0] ?? {};
  const path = (v.instancePath ?? '').replace(/^\//, '').split('/').filter(Boolean);
  if (v.params?.missingProperty) path.push(v.params.missingProperty);
  const param = path.join('.') || null;
  let what = v.message ?? 'is invalid';
  if (v.params?.allowedValues) what += `: ${v.params.allowedValues.filter((x) => x !== null).map((x) => JSON.stringify(x)).join(', ')}`;
  const message = v.params?.missingProperty ? `${param} is required` : `${param ?? 'body'} ${what}`;
  return apiError(400, message, v.params?.missingProperty ? 'missing_field' : 'invalid_type', param);
}
