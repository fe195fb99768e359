/** My prescriptions (我的处方): what the doctor prescribed and the pharmacist reviewed. */
import { unwrap, type Schema } from "@ihis/shared/api";
import { api } from "./api";

export type Prescription = Schema<"PrescriptionOut">;
export type PrescriptionStatus = Prescription["status"];

export async function listPrescriptions(): Promise<Prescription[]> {
  return unwrap(api.GET("/api/v1/me/prescriptions"));
}

export async function getPrescription(id: number): Promise<Prescription> {
  return unwrap(api.GET("/api/v1/me/prescriptions/{rx_id}", { params: { path: { rx_id: id } } }));
}

/** Vant tag type of a prescription status. */
export function statusTag(status: string): "primary" | "success" | "warning" | "danger" | "default" {
  switch (status) {
    case "approved":
      return "success";
    case "pending_review":
    case "under_review":
      return "warning";
    case "rejected":
      return "danger";
    default:
      return "default";
  }
}

/** Fetch the approved prescription's PDF with the session and save it (no URL carries the session). */
export async function downloadPrescriptionPdf(rx: Prescription): Promise<void> {
  const { data, error } = await api.GET("/api/v1/me/prescriptions/{rx_id}/pdf", {
    params: { path: { rx_id: rx.id } },
    parseAs: "blob",
  });
  if (error !== undefined || !(data instanceof Blob)) throw new Error("download failed");
  const url = URL.createObjectURL(data);
  try {
    const a = document.createElement("a");
    a.href = url;
    a.download = `prescription-${rx.number}.pdf`;
    a.rel = "noopener";
    document.body.appendChild(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 30_000);
  }
}
