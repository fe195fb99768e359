/**
 * Professional titles (职称) as the server names them (organization/titles.py): the value is the
 * Chinese name; English is a display label only. Prices are set per title and service mode.
 */
import { i18n } from "./i18n";

export interface TitleInfo {
  name: string;
  profession: "doctor" | "pharmacist" | "nurse";
  en: string;
}

export const TITLE_INFO: TitleInfo[] = [
  { name: "主任医师", profession: "doctor", en: "Chief physician" },
  { name: "副主任医师", profession: "doctor", en: "Associate chief physician" },
  { name: "主治医师", profession: "doctor", en: "Attending physician" },
  { name: "住院医师", profession: "doctor", en: "Resident physician" },
  { name: "主任药师", profession: "pharmacist", en: "Chief pharmacist" },
  { name: "副主任药师", profession: "pharmacist", en: "Associate chief pharmacist" },
  { name: "主管药师", profession: "pharmacist", en: "Pharmacist in charge" },
  { name: "药师", profession: "pharmacist", en: "Pharmacist" },
  { name: "主任护师", profession: "nurse", en: "Chief nurse" },
  { name: "副主任护师", profession: "nurse", en: "Associate chief nurse" },
  { name: "主管护师", profession: "nurse", en: "Nurse in charge" },
  { name: "护师", profession: "nurse", en: "Senior nurse" },
  { name: "护士", profession: "nurse", en: "Nurse" },
];

export const TITLES: string[] = TITLE_INFO.map((x) => x.name);

/** The title in the UI language (unknown titles as given). */
export function titleLabel(name: string | null | undefined): string {
  if (!name) return "—";
  if (i18n.global.locale.value !== "en") return name;
  return TITLE_INFO.find((x) => x.name === name)?.en ?? name;
}
