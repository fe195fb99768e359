/** Forms for staff profiles: what the person fills in (own) and what the hospital sets (admin). */
import type { BodyOf } from "@ihis/shared/api";
import type { Profession, ServiceMode, StaffProfile } from "./api/types";
import { fenToYuan, yuanToFen } from "./format";

export const MODES: ServiceMode[] = ["text", "phone", "video"];
export const PROFESSIONS: Profession[] = ["doctor", "nurse", "pharmacist"];

/** PUT /me/staff-profile */
export interface OwnProfileForm {
  profession: Profession;
  department_id: number | null;
  title: string;
  licence_no: string;
  qualification_no: string;
  practice_cert_no: string;
  practice_started_on: string | null; // YYYY-MM-DD
  specialties: string;
  introduction: string;
  service_on: boolean;
}

export const OWN_FIELDS = [
  "profession",
  "department_id",
  "title",
  "licence_no",
  "qualification_no",
  "practice_cert_no",
  "practice_started_on",
  "specialties",
  "introduction",
  "service_on",
];

export function toOwnForm(p: StaffProfile | null): OwnProfileForm {
  return {
    profession: p?.profession ?? "doctor",
    department_id: p?.department_id ?? null,
    title: p?.title ?? "",
    licence_no: p?.licence_no ?? "",
    qualification_no: p?.qualification_no ?? "",
    practice_cert_no: p?.practice_cert_no ?? "",
    practice_started_on: p?.practice_started_on ?? null,
    specialties: p?.specialties ?? "",
    introduction: p?.introduction ?? "",
    service_on: p?.service_on ?? false,
  };
}

export function ownBody(f: OwnProfileForm): BodyOf<"/api/v1/me/staff-profile", "put"> {
  return {
    profession: f.profession,
    department_id: f.department_id,
    title: f.title || null,
    licence_no: f.licence_no.trim() || null,
    qualification_no: f.qualification_no.trim() || null,
    practice_cert_no: f.practice_cert_no.trim() || null,
    practice_started_on: f.practice_started_on || null,
    specialties: f.specialties.trim() || null,
    introduction: f.introduction.trim() || null,
    service_on: f.service_on,
  };
}

/** PUT /admin/profiles/{id} */
export interface AdminProfileForm {
  title: string;
  department_id: number | null;
  prescription_right: boolean;
  service_on: boolean;
  modes: Record<ServiceMode, { enabled: boolean; yuan: number | null; title_price_fen: number | null }>;
}

export const ADMIN_FIELDS = ["title", "department_id", "prescription_right", "service_on", "modes"];

export function toAdminForm(p: StaffProfile | null): AdminProfileForm {
  const modes = {} as AdminProfileForm["modes"];
  for (const mode of MODES) {
    const m = p?.modes.find((x) => x.mode === mode);
    modes[mode] = { enabled: m?.enabled ?? false, yuan: fenToYuan(m?.price_override_fen ?? null), title_price_fen: m?.title_price_fen ?? null };
  }
  return {
    title: p?.title ?? "",
    department_id: p?.department_id ?? null,
    prescription_right: p?.prescription_right ?? false,
    service_on: p?.service_on ?? false,
    modes,
  };
}

type AdminProfileBody = BodyOf<"/api/v1/admin/profiles/{profile_id}", "put">;

export function adminBody(f: AdminProfileForm): AdminProfileBody {
  const modes: NonNullable<AdminProfileBody["modes"]> = {};
  for (const mode of MODES) modes[mode] = { enabled: f.modes[mode].enabled, price_fen: yuanToFen(f.modes[mode].yuan) };
  return {
    title: f.title || null,
    department_id: f.department_id,
    prescription_right: f.prescription_right,
    service_on: f.service_on,
    modes,
  };
}

export function reviewTagType(status: string | null | undefined): "success" | "warning" | "danger" | "info" {
  if (status === "approved") return "success";
  if (status === "rejected") return "danger";
  if (status === "submitted") return "warning";
  return "info";
}
