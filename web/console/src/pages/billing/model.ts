/** Bill and refund codes as the server names them (billing/states.py, billing/models.py). */
export const BILL_STATUSES = ["unpaid", "paid", "refunding", "refunded", "partially_refunded", "closed"] as const;
export const BILL_KINDS = ["registration", "drug", "other"] as const;
export const BILL_CHANNELS = ["wechat", "alipay"] as const;
export type BillStatus = (typeof BILL_STATUSES)[number];
export type BillKind = (typeof BILL_KINDS)[number];
export type BillChannel = (typeof BILL_CHANNELS)[number];

export function billStatusType(status: string): "success" | "info" | "warning" | "danger" | "primary" {
  switch (status) {
    case "paid":
      return "success";
    case "unpaid":
      return "warning";
    case "refunding":
      return "primary";
    case "refunded":
    case "partially_refunded":
      return "danger";
    default:
      return "info";
  }
}

export function refundStatusType(status: string): "success" | "info" | "warning" | "danger" {
  return status === "succeeded" ? "success" : status === "failed" ? "danger" : status === "processing" ? "warning" : "info";
}
