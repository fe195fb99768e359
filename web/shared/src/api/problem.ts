/** RFC 9457 problem+json errors as the IHIS server renders them. */

export interface ProblemFieldError {
  field: string;
  code: string;
  message: string;
}

/** The body the server sends with `Content-Type: application/problem+json`. */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string | null;
  code?: string;
  errors?: ProblemFieldError[];
  retry_after?: number | null;
  next?: string | null;
  [extra: string]: unknown;
}

/** A failed API call. Thrown by every client call that does not answer 2xx/3xx. */
export class ApiProblem extends Error {
  readonly status: number;
  /** Stable machine code, e.g. `consent_required`, `validation_error`, `network_error`. */
  readonly code: string;
  readonly title: string;
  readonly detail: string | null;
  readonly errors: ProblemFieldError[];
  /** Seconds to wait (429 / lockout), from the body or the Retry-After header. */
  readonly retryAfter: number | null;
  /** What the client should do next: `mfa`, `enrol_mfa`, `change_password`, `step_up`, ... */
  readonly next: string | null;
  readonly type: string;
  /** The OpenAPI path of the call that failed (e.g. `/api/v1/auth/me`), when known. */
  readonly path: string | null;
  readonly body: ProblemBody;

  constructor(status: number, body: ProblemBody, opts: { retryAfterHeader?: string | null; path?: string | null } = {}) {
    const title = body.title ?? `HTTP ${status}`;
    super(body.detail ? `${title}: ${body.detail}` : title);
    this.name = "ApiProblem";
    this.status = status;
    this.body = body;
    this.type = body.type ?? "about:blank";
    this.code = body.code ?? (status === 0 ? "network_error" : `http_${status}`);
    this.title = title;
    this.detail = body.detail ?? null;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.next = body.next ?? null;
    this.path = opts.path ?? null;
    this.retryAfter = parseRetryAfter(body.retry_after, opts.retryAfterHeader ?? null);
  }

  /** The human message to show: the detail when present, else the title. */
  get userMessage(): string {
    return this.detail || this.title;
  }
}

function parseRetryAfter(fromBody: number | null | undefined, header: string | null): number | null {
  if (typeof fromBody === "number" && Number.isFinite(fromBody)) return fromBody;
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

const LOCATION_PREFIX = /^(body|query|path|header|cookie)\./;

/**
 * Field errors of a problem as `{field: message}` for forms: `body.id_number` -> `id_number`.
 * The first message of each field wins. Anything that is not an ApiProblem gives `{}`.
 */
export function fieldErrors(problem: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(problem instanceof ApiProblem)) return out;
  for (const e of problem.errors) {
    if (!e || typeof e.field !== "string") continue;
    const key = e.field.replace(LOCATION_PREFIX, "");
    if (!(key in out)) out[key] = e.message || e.code;
  }
  return out;
}

/** True when `err` is an ApiProblem with one of the given codes. */
export function isProblem(err: unknown, ...codes: string[]): err is ApiProblem {
  return err instanceof ApiProblem && (codes.length === 0 || codes.includes(err.code));
}
