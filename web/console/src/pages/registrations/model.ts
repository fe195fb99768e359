/** Registration and blacklist codes as the server names them (registration/schemas.py). */
export const REGISTRATION_STATUSES = ["pending_payment", "confirmed", "cancelled", "closed", "no_show"] as const;
export const BLOCK_STATUSES = ["active", "lifted", "expired"] as const;
export type BlockStatus = (typeof BLOCK_STATUSES)[number];

export function registrationStatusType(status: string): "success" | "info" | "warning" | "danger" {
  switch (status) {
    case "confirmed":
      return "success";
    case "pending_payment":
      return "warning";
    case "no_show":
      return "danger";
    default:
      return "info";
  }
}

/** GB/T 2261.1 sex codes. */
export function sexKey(code: number): string {
  return code === 1 ? "male" : code === 2 ? "female" : "unknown";
}
