import { createIhisI18n } from "@ihis/shared/i18n";
import en from "./en";
import zhCN from "./zh-CN";

export const i18n = createIhisI18n({ "zh-CN": zhCN, en });
