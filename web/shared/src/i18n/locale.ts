/**
 * The UI locale, readable without vue-i18n (the API client sends it as Accept-Language).
 * The user's choice is kept in localStorage; the default is zh-CN.
 */
export const LOCALES = ["zh-CN", "en"] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = "zh-CN";
export const FALLBACK_LOCALE: Locale = "en";
export const LOCALE_STORAGE_KEY = "ihis.locale";

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}

let active: Locale | null = null;

/** The locale stored by the user, or the default. */
export function storedLocale(): Locale {
  try {
    const saved = globalThis.localStorage?.getItem(LOCALE_STORAGE_KEY);
    if (isLocale(saved)) return saved;
  } catch {
    // storage disabled (private mode, some web-views)
  }
  return DEFAULT_LOCALE;
}

/** The locale the UI currently shows. */
export function currentLocale(): Locale {
  return active ?? storedLocale();
}

/** Record the active locale (called by the i18n instance); persists and sets <html lang>. */
export function rememberLocale(locale: Locale): void {
  active = locale;
  try {
    globalThis.localStorage?.setItem(LOCALE_STORAGE_KEY, locale);
  } catch {
    // storage disabled: the choice lasts for this page only
  }
  if (typeof document !== "undefined") document.documentElement.lang = locale;
}
