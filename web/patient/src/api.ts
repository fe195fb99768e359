/** The patient app's API client: problems route to login / consent through the router. */
import { createApiClient } from "@ihis/shared/api";
import { router } from "./router";
import { clearSession } from "./session";

export const api = createApiClient({
  onUnauthorized() {
    clearSession();
    const current = router.currentRoute.value;
    if (current.meta.auth) {
      void router.replace({ name: "login", query: { redirect: current.fullPath } });
    }
  },
  onConsentRequired() {
    const current = router.currentRoute.value;
    if (current.name !== "consent") {
      void router.push({ name: "consent", query: { redirect: current.fullPath } });
    }
  },
});
