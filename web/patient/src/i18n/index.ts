import { createIhisI18n } from "@ihis/shared/i18n";
import bookingEn from "./booking.en";
import bookingZhCN from "./booking.zh-CN";
import consultationEn from "./consultation.en";
import consultationZhCN from "./consultation.zh-CN";
import en from "./en";
import orderEn from "./order.en";
import orderZhCN from "./order.zh-CN";
import prescriptionEn from "./prescription.en";
import prescriptionZhCN from "./prescription.zh-CN";
import zhCN from "./zh-CN";

export const i18n = createIhisI18n({
  "zh-CN": { ...zhCN, ...bookingZhCN, ...consultationZhCN, ...prescriptionZhCN, ...orderZhCN },
  en: { ...en, ...bookingEn, ...consultationEn, ...prescriptionEn, ...orderEn },
});
