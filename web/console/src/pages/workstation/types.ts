// Shapes of the workstation API, taken from the OpenAPI document by path (see api/types.ts).
import type { ResponseOf, BodyOf } from "@ihis/shared/api";

type Item<T> = T extends readonly (infer U)[] ? U : never;

export type Workbench = ResponseOf<"/api/v1/workstation/today", "get">;
export type TodaySession = Workbench["sessions"][number];
export type WaitingPatient = Workbench["waiting"][number];
export type Preview = ResponseOf<"/api/v1/workstation/registrations/{registration_id}/preview", "get">;
export type EvidenceUpload = Preview["uploads"][number];
export type Consultation = Item<ResponseOf<"/api/v1/workstation/consultations", "get">>;
export type ConsultationStatus = Consultation["status"];
export type ConsultationDetail = ResponseOf<"/api/v1/workstation/consultations/{consultation_id}", "get">;
export type RecordVersion = Item<ResponseOf<"/api/v1/workstation/consultations/{consultation_id}/record", "get">>;
export type RecordBody = BodyOf<"/api/v1/workstation/consultations/{consultation_id}/record", "put">;
export type CodeHit = ResponseOf<"/api/v1/codes/{system}/search", "get">["items"][number];
export type EmrTemplate = Item<ResponseOf<"/api/v1/me/emr-templates", "get">>;
export type SigningCertificate = ResponseOf<"/api/v1/me/signing-certificate", "get">;

/** Element tag colour of a consultation status. */
export function consultationStatusType(status: string): "success" | "info" | "warning" | "danger" | "primary" {
  switch (status) {
    case "in_progress":
      return "primary";
    case "completed":
      return "success";
    case "rejected":
    case "stopped":
      return "danger";
    default:
      return "info";
  }
}
