/** The message center's unread count (the tab badge), and where a message's link leads. */
import type { ResponseOf } from "@ihis/shared/api";
import { ref } from "vue";
import type { RouteLocationRaw } from "vue-router";
import { api } from "./api";

export type Message = ResponseOf<"/api/v1/me/messages", "get">["items"][number];

export const unread = ref(0);

/** Refresh the badge (best effort: a failure keeps the last count). */
export async function refreshUnread(): Promise<void> {
  try {
    unread.value = (await api.GET("/api/v1/me/messages/unread-count")).data?.unread ?? 0;
  } catch {
    // offline or logged out: the badge is a convenience
  }
}

/** The app page a message is about, if any. */
export function messageTarget(message: Message): RouteLocationRaw | null {
  const link = message.link;
  if (!link) return null;
  if (link.type === "registration") return { name: "registration", params: { id: link.id } };
  if (link.type === "bill") return { name: "bill", params: { id: link.id } };
  if (link.type === "booking_block") return { name: "booking-block" };
  if (link.type === "consultation") return { name: "consultation", params: { id: link.id } };
  if (link.type === "medical_record") return { name: "record", params: { id: link.id } };
  const route = link.route ?? "";
  if (route.startsWith("/") && !route.startsWith("//")) return route.replace(/^\/app(?=\/)/, "");
  return null;
}
