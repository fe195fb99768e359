/** Types of the public directory (departments, doctors, disclosure), from the OpenAPI document. */
import type { ResponseOf } from "@ihis/shared/api";

export type Institution = ResponseOf<"/api/v1/public/institution", "get">;
export type DepartmentSummary = ResponseOf<"/api/v1/public/departments", "get">[number];
export type DepartmentDetail = ResponseOf<"/api/v1/public/departments/{department_id}", "get">;
export type DoctorPage = ResponseOf<"/api/v1/public/doctors", "get">;
export type DoctorSummary = DoctorPage["items"][number];
export type DoctorDetail = ResponseOf<"/api/v1/public/doctors/{profile_id}", "get">;

/** The doctor's photo URL, when they have one (served by the API, same origin). */
export function doctorPhotoUrl(doctor: { id: number; has_photo: boolean }): string | null {
  return doctor.has_photo ? `/api/v1/public/doctors/${doctor.id}/photo` : null;
}
export type Disclosure = ResponseOf<"/api/v1/public/disclosure", "get">;
