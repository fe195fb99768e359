/** Relations a family member (就诊人) can have to the account holder, and sex display (GB/T 2261.1). */
export const RELATIONS = ["self", "spouse", "child", "parent", "other"] as const;
export type Relation = (typeof RELATIONS)[number];

/** i18n key of a GB/T 2261.1 sex code or word. */
export function sexKey(sex: unknown): string {
  const s = String(sex ?? "");
  if (s === "1" || s === "male" || s === "M") return "visitor.sex.male";
  if (s === "2" || s === "female" || s === "F") return "visitor.sex.female";
  return "visitor.sex.unknown";
}
