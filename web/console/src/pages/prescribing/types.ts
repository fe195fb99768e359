// Shapes of the prescribing and review API, taken from the OpenAPI document by path (see api/types.ts).
import type { BodyOf, ResponseOf } from "@ihis/shared/api";

type Item<T> = T extends readonly (infer U)[] ? U : never;

export type Prescription = ResponseOf<"/api/v1/workstation/prescriptions/{rx_id}", "get">;
export type RxLine = Prescription["lines"][number];
export type RxFinding = Prescription["findings"][number];
export type RxEvent = NonNullable<Prescription["timeline"]>[number];
export type DraftBody = BodyOf<"/api/v1/workstation/prescriptions/{rx_id}", "put">;
export type LineBody = DraftBody["lines"] extends (infer U)[] | undefined ? U : never;
export type DrugHit = Item<ResponseOf<"/api/v1/workstation/rx/drugs", "get">>;
export type RxTemplate = Item<ResponseOf<"/api/v1/workstation/rx-templates", "get">>;
export type Vocabulary = ResponseOf<"/api/v1/rx/vocabulary", "get">;
export type ReviewScreen = ResponseOf<"/api/v1/pharmacy/reviews/{rx_id}", "get">;
export type DutyBoard = ResponseOf<"/api/v1/pharmacy/duty", "get">;

/** Element tag colour of a prescription status. */
export function rxStatusType(status: string): "success" | "info" | "warning" | "danger" | "primary" {
  switch (status) {
    case "approved":
      return "success";
    case "pending_review":
    case "under_review":
      return "warning";
    case "rejected":
      return "danger";
    case "draft":
      return "primary";
    default:
      return "info";
  }
}

/** Element alert/tag type of a finding severity. */
export function severityType(severity: string): "error" | "warning" | "info" {
  return severity === "block" ? "error" : severity === "warn" ? "warning" : "info";
}
