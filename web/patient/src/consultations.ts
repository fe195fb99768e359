/** Online consultations (在线复诊), signed medical records and public signature verification. */
import { unwrap, type Schema } from "@ihis/shared/api";
import { api } from "./api";

export type Consultation = Schema<"ConsultationOut">;
export type ConsultationDetail = Schema<"ConsultationDetailOut">;
export type ConsultationStatus = Consultation["status"];
export type TimelineEvent = ConsultationDetail["timeline"][number];
export type MedicalRecord = Schema<"RecordOut">;
export type Verification = Schema<"PublicVerificationOut">;
export type VerificationCheck = Verification["checks"][number];

export async function listConsultations(): Promise<Consultation[]> {
  return unwrap(api.GET("/api/v1/me/consultations"));
}

export async function getConsultation(id: number): Promise<ConsultationDetail> {
  return unwrap(api.GET("/api/v1/me/consultations/{consultation_id}", { params: { path: { consultation_id: id } } }));
}

/** The consultation of a registration, if the doctor has accepted or rejected it (null otherwise). */
export async function consultationOfRegistration(registrationId: number): Promise<Consultation | null> {
  return (await listConsultations()).find((c) => c.registration_id === registrationId) ?? null;
}

export async function listRecords(): Promise<MedicalRecord[]> {
  return unwrap(api.GET("/api/v1/me/records"));
}

export async function getRecord(id: number): Promise<MedicalRecord> {
  return unwrap(api.GET("/api/v1/me/records/{record_id}", { params: { path: { record_id: id } } }));
}

/** Fetch the record's PDF with the session and save it as a file (no URL carries the session). */
export async function downloadRecordPdf(record: MedicalRecord): Promise<void> {
  const { data } = await api.GET("/api/v1/me/records/{record_id}/pdf", {
    params: { path: { record_id: record.id } },
    parseAs: "blob",
  });
  const blob = data instanceof Blob ? data : new Blob([], { type: "application/pdf" });
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement("a");
    a.href = url;
    a.download = `medical-record-${record.consultation_id}-v${record.version}.pdf`;
    a.rel = "noopener";
    document.body.appendChild(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 30_000);
  }
}

export async function verifyCode(code: string): Promise<Verification> {
  return unwrap(api.GET("/api/v1/public/verify/{code}", { params: { path: { code } } }));
}

export function consultationTagType(status: string): "primary" | "success" | "warning" | "danger" | "default" {
  if (status === "in_progress") return "primary";
  if (status === "completed") return "success";
  if (status === "rejected" || status === "stopped") return "danger";
  return "default";
}
