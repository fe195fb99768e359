/**
 * The console's one API client: the shared typed openapi-fetch client (@ihis/shared/api), which
 * sends CSRF and Accept-Language and throws ApiProblem for every non-2xx answer after running the
 * 401 / MFA hooks set in auth-flow.ts. Pages call `api.GET("/api/v1/...")` through `unwrap()` so
 * paths, query parameters, bodies and answers are all checked against the OpenAPI document.
 * File transfers (multipart upload, CSV/xlsx download) go through the same client untyped.
 */
import { createApiClient, ApiProblem, unwrap } from "@ihis/shared/api";

export { ApiProblem, unwrap };

type Hook = (problem: ApiProblem) => void;

/** Set by auth-flow.ts once the router exists (the client is created before it). */
export const hooks: { unauthorized: Hook; mfaRequired: Hook } = {
  unauthorized: () => undefined,
  mfaRequired: () => undefined,
};

export const api = createApiClient({
  onUnauthorized: (p) => hooks.unauthorized(p),
  onMfaRequired: (p) => hooks.mfaRequired(p),
});

interface LooseInit {
  params?: { query?: Record<string, unknown> };
  body?: unknown;
  parseAs?: "json" | "blob";
  bodySerializer?: (body: unknown) => unknown;
}
type LooseMethod = (path: string, init?: LooseInit) => Promise<{ data?: unknown; response: Response }>;
const loose = api as unknown as { GET: LooseMethod; POST: LooseMethod };

/** Drop empty filters so the query string carries only what the user chose. */
export function cleanQuery<T extends Record<string, unknown>>(query: T): { [K in keyof T]?: Exclude<T[K], "" | null | undefined> } {
  const out: { [K in keyof T]?: Exclude<T[K], "" | null | undefined> } = {};
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

/** multipart/form-data upload (the browser sets the boundary). */
export async function upload<T>(path: string, form: FormData): Promise<T> {
  const { data } = await loose.POST(path, { body: form, bodySerializer: (b) => b });
  return data as T;
}

/** A file answer (CSV export, xlsx template) as a Blob plus the server's file name. */
export async function download(path: string, query: Record<string, unknown> = {}): Promise<{ blob: Blob; filename: string | null }> {
  const { data, response } = await loose.GET(path, { params: { query: cleanQuery(query) }, parseAs: "blob" });
  return { blob: data as Blob, filename: filenameOf(response) };
}

function filenameOf(response: Response): string | null {
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (star?.[1]) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  return plain?.[1] ?? null;
}

/** Let the browser save a Blob under a name. */
export function saveBlob(blob: Blob, filename: string): void {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 1000);
}
