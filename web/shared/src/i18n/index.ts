/**
 * vue-i18n for IHIS apps: Composition API only, zh-CN default, en fallback, the user's choice
 * persisted in localStorage. Apps pass their own messages; the common ones are merged under them.
 */
import { computed, watch } from "vue";
import { createI18n, useI18n, type I18n } from "vue-i18n";
import { ApiProblem } from "../api/problem";
import { commonMessages } from "./messages";
import { DEFAULT_LOCALE, FALLBACK_LOCALE, LOCALES, isLocale, rememberLocale, storedLocale, type Locale } from "./locale";

export { commonMessages } from "./messages";
export { LOCALES, DEFAULT_LOCALE, FALLBACK_LOCALE, currentLocale, isLocale, type Locale } from "./locale";

// Messages are nested string tables; values are vue-i18n message strings.
export interface MessageTree {
  [key: string]: string | MessageTree;
}
export type AppMessages = Partial<Record<Locale, MessageTree>>;
export type IhisI18n = I18n<Record<string, MessageTree>, {}, {}, string, false>;

let instance: IhisI18n | null = null;

function merge(base: MessageTree, extra: MessageTree): MessageTree {
  const out: MessageTree = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const prev = out[key];
    out[key] = typeof value === "object" && typeof prev === "object" ? merge(prev, value) : value;
  }
  return out;
}

/** Create the app's i18n plugin (install it with `app.use(i18n)`). */
export function createIhisI18n(messages: AppMessages = {}): IhisI18n {
  const all: Record<string, MessageTree> = {};
  for (const locale of LOCALES) {
    all[locale] = merge(commonMessages[locale] as unknown as MessageTree, messages[locale] ?? {});
  }
  const initial = storedLocale();
  const i18n = createI18n({
    legacy: false,
    locale: initial,
    fallbackLocale: FALLBACK_LOCALE,
    messages: all,
    missingWarn: false,
    fallbackWarn: false,
  }) as unknown as IhisI18n;
  rememberLocale(initial);
  watch(i18n.global.locale, (locale) => {
    if (isLocale(locale)) rememberLocale(locale);
  });
  instance = i18n;
  return i18n;
}

/** Switch the UI language (persisted); no-op for unknown locales. */
export function setLocale(locale: string): void {
  if (!isLocale(locale)) return;
  if (instance) instance.global.locale.value = locale;
  rememberLocale(locale);
}

/** `{ locale, locales, setLocale }` for a language switcher. */
export function useLocale() {
  const { locale } = useI18n({ useScope: "global" });
  return {
    locale: computed<Locale>(() => (isLocale(locale.value) ? locale.value : DEFAULT_LOCALE)),
    locales: LOCALES,
    setLocale,
  };
}

/**
 * The message to show for a failed call: the server's (already localized) detail/title,
 * or a generic localized one for network/5xx/429 failures.
 */
export function problemMessage(err: unknown, t: (key: string, named?: Record<string, unknown>) => string): string {
  if (err instanceof ApiProblem) {
    if (err.status === 0) return t("errors.network");
    if (err.status === 429) {
      return err.detail || t("errors.tooManyRequests", { seconds: err.retryAfter ?? 60 });
    }
    if (err.status >= 500 && !err.body.code) return t("errors.server");
    return err.userMessage;
  }
  return t("errors.unknown");
}
