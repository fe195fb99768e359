/** The hospital this app serves (public), fetched once and shared by the pages that show it. */
import { ref } from "vue";
import { api } from "./api";
import type { Institution } from "./directory";

const institution = ref<Institution | null>(null);
let pending: Promise<void> | null = null;

export function useInstitution() {
  pending ??= api
    .GET("/api/v1/public/institution")
    .then(({ data }) => {
      institution.value = data ?? null;
    })
    .catch(() => {
      pending = null; // try again on the next page that asks
    });
  return { institution, ready: pending };
}
