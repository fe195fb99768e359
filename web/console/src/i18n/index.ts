import { computed } from "vue";
import { createIhisI18n, useLocale } from "@ihis/shared/i18n";
import elZhCn from "element-plus/es/locale/lang/zh-cn";
import elEn from "element-plus/es/locale/lang/en";
import zhCN from "./zh-CN";
import en from "./en";

/** The shape of the console's messages; en.ts is checked against it so no key goes missing. */
export type MessageSchema = typeof zhCN;

export const i18n = createIhisI18n({ "zh-CN": zhCN, en });

/** Element Plus' own texts (pagination, date picker, ...) follow the UI language. */
export function useElementLocale() {
  const { locale } = useLocale();
  return computed(() => (locale.value === "en" ? elEn : elZhCn));
}
