/** Staff roles as the server names them (identity/access.py); labels are under roles.* in i18n. */
export const STAFF_ROLES = [
  "doctor",
  "nurse",
  "pharmacist",
  "pharmacy_staff",
  "senior_pharmacist",
  "formulary_admin",
  "operations",
  "finance",
  "quality",
  "it_admin",
  "security_admin",
  "auditor",
  "super_admin",
] as const;
