/** Registrations (挂号), bills and the booking block (黑名单) of the signed-in patient. */
import { unwrap, type BodyOf, type ResponseOf, type Schema, type paths } from "@ihis/shared/api";
import { api } from "./api";

export type Registration = Schema<"RegistrationOut">;
export type RegistrationDetail = Schema<"RegistrationDetailOut">;
export type Refund = RegistrationDetail["refunds"][number];
export type BookingBlockState = Schema<"MyBlockOut">;
export type BookingBlock = NonNullable<BookingBlockState["block"]>;
export type Appeal = Schema<"AppealOut">;
export type RegistrationStatus = NonNullable<
  NonNullable<NonNullable<paths["/api/v1/me/registrations"]["get"]["parameters"]["query"]>["status"]>
>;
export const REGISTRATION_TABS = ["", "pending_payment", "confirmed", "cancelled", "closed", "no_show"] as const satisfies readonly (RegistrationStatus | "")[];

export type Bill = ResponseOf<"/api/v1/me/bills/{bill_id}", "get">;
export type Channel = "wechat" | "alipay";
export const CHANNELS: readonly Channel[] = ["wechat", "alipay"];

export async function listRegistrations(status: RegistrationStatus | "", offset: number, limit: number): Promise<{ items: Registration[]; total: number }> {
  const query = { offset, limit, ...(status ? { status } : {}) };
  const { data } = await api.GET("/api/v1/me/registrations", { params: { query } });
  return data ?? { items: [], total: 0 };
}

export async function getRegistration(id: number): Promise<RegistrationDetail> {
  return unwrap(api.GET("/api/v1/me/registrations/{registration_id}", { params: { path: { registration_id: id } } }));
}

export async function createRegistration(body: BodyOf<"/api/v1/me/registrations", "post">): Promise<Registration> {
  return unwrap(api.POST("/api/v1/me/registrations", { body }));
}

export async function cancelRegistration(id: number, reason: string): Promise<RegistrationDetail> {
  return unwrap(
    api.POST("/api/v1/me/registrations/{registration_id}/cancel", {
      params: { path: { registration_id: id } },
      body: reason ? { reason } : {},
    }),
  );
}

export async function getBookingBlock(): Promise<BookingBlockState> {
  return unwrap(api.GET("/api/v1/me/booking-block"));
}

export async function appealBookingBlock(reason: string): Promise<Appeal> {
  return unwrap(api.POST("/api/v1/me/booking-block/appeal", { body: { reason } }));
}

/** Start paying a bill at a channel; the browser then leaves the app for the channel's cashier. */
export async function payBill(billId: number, channel: Channel): Promise<void> {
  const { data } = await api.POST("/api/v1/me/bills/{bill_id}/pay", { params: { path: { bill_id: billId } }, body: { channel } });
  if (data?.cashier_url) window.location.href = data.cashier_url;
}

export function statusTagType(status: string): "primary" | "success" | "warning" | "danger" | "default" {
  if (status === "confirmed") return "success";
  if (status === "pending_payment") return "warning";
  if (status === "no_show") return "danger";
  if (status === "cancelled" || status === "closed") return "default";
  return "primary";
}
