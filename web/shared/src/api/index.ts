/**
 * The typed IHIS API client: openapi-fetch over the generated `paths` (see scripts/gen-api.sh).
 *
 * Every call sends Accept-Language (the UI locale), the CSRF token on unsafe methods, and the
 * session cookie (same-origin). Non-2xx answers are thrown as `ApiProblem`, after the matching
 * hook (`onUnauthorized`, `onMfaRequired`, `onConsentRequired`, `onStepUpRequired`) has run.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import { currentLocale } from "../i18n/locale";
import { readCookie } from "./cookies";
import { ApiProblem, type ProblemBody } from "./problem";
import type { components, paths } from "./schema";

export { ApiProblem, fieldErrors, isProblem } from "./problem";
export type { ProblemBody, ProblemFieldError } from "./problem";
export type { components, operations, paths } from "./schema";
export { readCookie } from "./cookies";

/** Shorthand for a schema of the OpenAPI document: `Schema<"MeOut">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

export type ApiClient = Client<paths>;

type Json<C> = C extends { content: { "application/json": infer T } } ? T : never;
type SuccessOf<R> = R extends { 200: infer C } ? Json<C> : R extends { 201: infer C } ? Json<C> : R extends { 202: infer C } ? Json<C> : never;

/** The JSON body of a path's success answer: `ResponseOf<"/api/v1/auth/me", "get">`. */
export type ResponseOf<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer R } ? SuccessOf<R> : never;

/** The JSON request body of a path: `BodyOf<"/api/v1/me/visitors", "post">`. */
export type BodyOf<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { requestBody?: infer B }
  ? Json<NonNullable<B>>
  : never;
export type ProblemHook = (problem: ApiProblem) => void;

export interface ApiClientOptions {
  /** Origin (and prefix) the paths are relative to; default "" = same origin. */
  baseUrl?: string;
  /** 401 (not logged in, session expired or idle-timed out), except when `next` is "mfa". */
  onUnauthorized?: ProblemHook;
  /** 403 with code `consent_required`: the patient must sign the current consent first. */
  onConsentRequired?: ProblemHook;
  /** 401 with next="mfa": the password step passed, the second factor is still due. */
  onMfaRequired?: ProblemHook;
  /** 403 with next="step_up": re-authenticate for a sensitive action. */
  onStepUpRequired?: ProblemHook;
  /** Institution code for anonymous calls (X-IHIS-Institution); server default otherwise. */
  institution?: string | (() => string | null | undefined);
  /** Replace fetch (tests). */
  fetch?: typeof globalThis.fetch;
}

export const CSRF_COOKIE = "ihis_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function createApiClient(opts: ApiClientOptions = {}): ApiClient {
  const client = createClient<paths>({
    baseUrl: opts.baseUrl ?? "",
    credentials: "same-origin",
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  client.use(ihisMiddleware(opts));
  return client;
}

function ihisMiddleware(opts: ApiClientOptions): Middleware {
  return {
    onRequest({ request }) {
      request.headers.set("Accept-Language", currentLocale());
      if (UNSAFE_METHODS.has(request.method.toUpperCase())) {
        const token = readCookie(CSRF_COOKIE);
        if (token) request.headers.set(CSRF_HEADER, token);
      }
      const institution = typeof opts.institution === "function" ? opts.institution() : opts.institution;
      if (institution && !request.headers.has("X-IHIS-Institution")) {
        request.headers.set("X-IHIS-Institution", institution);
      }
      return request;
    },
    async onResponse({ response, schemaPath }) {
      if (response.ok || (response.status >= 300 && response.status < 400)) return response;
      const problem = await toProblem(response, schemaPath);
      dispatch(problem, opts);
      throw problem;
    },
    onError({ error, schemaPath }) {
      if (error instanceof ApiProblem) return error;
      // fetch itself failed: offline, DNS, connection refused, CORS.
      return new ApiProblem(0, { title: "Network error", detail: String(error), code: "network_error" }, { path: schemaPath });
    },
  };
}

async function toProblem(response: Response, path: string): Promise<ApiProblem> {
  let body: ProblemBody = { title: response.statusText || `HTTP ${response.status}` };
  const type = response.headers.get("Content-Type") ?? "";
  if (type.includes("json")) {
    try {
      const parsed: unknown = await response.clone().json();
      if (parsed && typeof parsed === "object") body = parsed as ProblemBody;
    } catch {
      // not JSON after all; keep the status-line problem
    }
  }
  return new ApiProblem(response.status, body, { retryAfterHeader: response.headers.get("Retry-After"), path });
}

function dispatch(problem: ApiProblem, opts: ApiClientOptions): void {
  const hook =
    problem.status === 401
      ? problem.next === "mfa"
        ? opts.onMfaRequired
        : opts.onUnauthorized
      : problem.status === 403 && problem.code === "consent_required"
        ? opts.onConsentRequired
        : problem.status === 403 && problem.next === "step_up"
          ? opts.onStepUpRequired
          : undefined;
  try {
    hook?.(problem);
  } catch (err) {
    console.error("IHIS API hook failed", err);
  }
}

/**
 * The data of a call (errors are already thrown as ApiProblem), typed non-optional:
 * `const me = await unwrap(api.GET("/api/v1/auth/me"))`. 204 answers give `undefined`.
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown }>): Promise<T> {
  const { data } = await call;
  return data as T;
}
