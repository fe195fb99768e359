/** My drug orders (药品订单): confirm drugs, pickup and address, pay, follow delivery, pick up. */
import { unwrap, type Schema } from "@ihis/shared/api";
import { api } from "./api";

export type DrugOrder = Schema<"PatientOrderOut">;
export type DrugOrderSummary = Schema<"OrderOut">;
export type Address = Schema<"AddressOut">;
export type AddressIn = Schema<"AddressIn">;
export type PickupPharmacy = Schema<"PickupPharmacyOut">;
export type Pickup = "window" | "delivery" | "partner_pharmacy";

export async function listOrders(): Promise<DrugOrderSummary[]> {
  return unwrap(api.GET("/api/v1/me/drug-orders"));
}

export async function getOrder(id: number): Promise<DrugOrder> {
  return unwrap(api.GET("/api/v1/me/drug-orders/{order_id}", { params: { path: { order_id: id } } }));
}

/** Confirm the order; ``selfPay`` pays everything oneself although 医保 is bound (自费). */
export async function confirmOrder(
  id: number,
  pickup: Pickup,
  addressId: number | null,
  pharmacyId: number | null,
  selfPay = false,
): Promise<DrugOrder> {
  return unwrap(
    api.POST("/api/v1/me/drug-orders/{order_id}/confirm", {
      params: { path: { order_id: id } },
      body: { pickup, address_id: addressId, pharmacy_id: pharmacyId, self_pay: selfPay },
    }),
  );
}

export async function cancelOrder(id: number): Promise<DrugOrder> {
  return unwrap(api.POST("/api/v1/me/drug-orders/{order_id}/cancel", { params: { path: { order_id: id } } }));
}

export async function requestRefund(id: number, reason: string): Promise<DrugOrder> {
  return unwrap(api.POST("/api/v1/me/drug-orders/{order_id}/refund-request", { params: { path: { order_id: id } }, body: { reason } }));
}

export async function reportReaction(id: number, description: string, onsetDate: string, severity: "mild" | "moderate" | "severe"): Promise<void> {
  await unwrap(
    api.POST("/api/v1/me/drug-orders/{order_id}/adverse-reactions", {
      params: { path: { order_id: id } },
      body: { description, onset_date: onsetDate, severity },
    }),
  );
}

export async function listAddresses(): Promise<Address[]> {
  return unwrap(api.GET("/api/v1/me/addresses"));
}

export async function addAddress(body: AddressIn): Promise<Address> {
  return unwrap(api.POST("/api/v1/me/addresses", { body }));
}

export async function listPickupPharmacies(): Promise<PickupPharmacy[]> {
  return unwrap(api.GET("/api/v1/me/pickup-pharmacies"));
}

/** The QR code of the prescription number as an object URL (fetched with the session). */
export async function qrUrl(id: number): Promise<string> {
  const { data } = await api.GET("/api/v1/me/drug-orders/{order_id}/qr", { params: { path: { order_id: id } }, parseAs: "blob" });
  return data instanceof Blob ? URL.createObjectURL(data) : "";
}
