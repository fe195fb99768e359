/** Follow-up eligibility (复诊预判) and uploads of earlier records, for the booking page. */
import type { ResponseOf, Schema } from "@ihis/shared/api";
import { api } from "./api";

export type EligibilityResult = ResponseOf<"/api/v1/me/eligibility-checks", "post">;
export type EvidenceUpload = ResponseOf<"/api/v1/me/evidence", "post">;
export const UPLOAD_TYPES = ["image/png", "image/jpeg", "application/pdf"] as const;

/** Ask the hospital's records whether this visitor may book a follow-up with these disease tags. */
export async function checkEligibility(visitorId: number, departmentId: number, tags: readonly string[]): Promise<EligibilityResult> {
  const { data } = await api.POST("/api/v1/me/eligibility-checks", {
    body: { visitor_id: visitorId, department_id: departmentId, tags: [...tags] },
  });
  if (!data) throw new Error("empty eligibility answer");
  return data;
}

/** Upload an earlier record (PNG/JPEG/PDF); a doctor confirms it later. */
export async function uploadEvidence(visitorId: number, departmentId: number, file: File): Promise<EvidenceUpload> {
  const form = new FormData();
  form.append("visitor_id", String(visitorId));
  form.append("department_id", String(departmentId));
  form.append("file", file, file.name);
  const { data } = await api.POST("/api/v1/me/evidence", {
    body: form as unknown as Schema<"Body_upload_evidence_api_v1_me_evidence_post">,
    bodySerializer: (body) => body as unknown as FormData,
  });
  if (!data) throw new Error("empty upload answer");
  return data;
}

/** The caller's earlier uploads for one visitor and department not yet used by a booking (newest first). */
export async function earlierUploads(visitorId: number, departmentId: number): Promise<EvidenceUpload[]> {
  const { data } = await api.GET("/api/v1/me/evidence");
  return (data ?? []).filter((u) => u.visitor_id === visitorId && u.department_id === departmentId && u.status !== "rejected" && u.registration_id === null);
}

/** The evidence id to name when booking with an upload (null while the server has none for it). */
export function uploadEvidenceId(upload: EvidenceUpload): number | null {
  return upload.evidence_id ?? null;
}
