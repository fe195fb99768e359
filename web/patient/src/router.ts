import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router";
import { api } from "./api";
import { loadMe } from "./session";

const routes: RouteRecordRaw[] = [
  { path: "/", name: "home", component: () => import("./pages/HomePage.vue"), meta: { title: "nav.home", tabbar: true, root: true } },
  { path: "/login", name: "login", component: () => import("./pages/LoginPage.vue"), meta: { title: "nav.login" } },
  { path: "/register", name: "register", component: () => import("./pages/RegisterPage.vue"), meta: { title: "nav.register" } },
  { path: "/reset-password", name: "reset-password", component: () => import("./pages/ResetPasswordPage.vue"), meta: { title: "nav.resetPassword" } },
  { path: "/me", name: "me", component: () => import("./pages/MePage.vue"), meta: { title: "nav.me", tabbar: true, root: true, auth: true } },
  { path: "/visitors", name: "visitors", component: () => import("./pages/VisitorsPage.vue"), meta: { title: "nav.visitors", auth: true } },
  { path: "/visitors/new", name: "visitor-add", component: () => import("./pages/VisitorAddPage.vue"), meta: { title: "nav.visitorAdd", auth: true } },
  { path: "/consent", name: "consent", component: () => import("./pages/ConsentPage.vue"), meta: { title: "nav.consent", auth: true } },
  { path: "/departments", name: "departments", component: () => import("./pages/DepartmentsPage.vue"), meta: { title: "nav.departments", tabbar: true, root: true } },
  { path: "/departments/:id", name: "department", component: () => import("./pages/DepartmentPage.vue"), meta: { title: "nav.department" }, props: true },
  { path: "/doctors", name: "doctors", component: () => import("./pages/DoctorsPage.vue"), meta: { title: "nav.doctors" } },
  { path: "/doctors/:id", name: "doctor", component: () => import("./pages/DoctorPage.vue"), meta: { title: "nav.doctor" }, props: true },
  { path: "/slots", name: "slots", component: () => import("./pages/SessionsPage.vue"), meta: { title: "nav.slots" } },
  { path: "/book/:sessionId", name: "booking", component: () => import("./pages/BookingPage.vue"), meta: { title: "nav.booking", auth: true }, props: true },
  { path: "/bills/:id", name: "bill", component: () => import("./pages/BillPage.vue"), meta: { title: "nav.bill", auth: true }, props: true },
  { path: "/registrations", name: "registrations", component: () => import("./pages/RegistrationsPage.vue"), meta: { title: "nav.registrations", auth: true } },
  { path: "/registrations/:id", name: "registration", component: () => import("./pages/RegistrationDetailPage.vue"), meta: { title: "nav.registration", auth: true }, props: true },
  { path: "/messages", name: "messages", component: () => import("./pages/MessagesPage.vue"), meta: { title: "nav.messages", tabbar: true, root: true, auth: true } },
  { path: "/booking-block", name: "booking-block", component: () => import("./pages/BookingBlockPage.vue"), meta: { title: "nav.bookingBlock", auth: true } },
  { path: "/consultations", name: "consultations", component: () => import("./pages/ConsultationsPage.vue"), meta: { title: "nav.consultations", auth: true } },
  { path: "/consultations/:id", name: "consultation", component: () => import("./pages/ConsultationPage.vue"), meta: { title: "nav.consultation", auth: true }, props: true },
  { path: "/records", name: "records", component: () => import("./pages/RecordsPage.vue"), meta: { title: "nav.records", auth: true } },
  { path: "/prescriptions", name: "prescriptions", component: () => import("./pages/PrescriptionsPage.vue"), meta: { title: "nav.prescriptions", auth: true } },
  {
    path: "/prescriptions/:id",
    name: "prescription",
    component: () => import("./pages/PrescriptionPage.vue"),
    meta: { title: "nav.prescription", auth: true },
    props: true,
  },
  { path: "/drug-orders", name: "drug-orders", component: () => import("./pages/DrugOrdersPage.vue"), meta: { title: "nav.drugOrders", auth: true } },
  {
    path: "/drug-orders/:id",
    name: "drug-order",
    component: () => import("./pages/DrugOrderPage.vue"),
    meta: { title: "nav.drugOrder", auth: true },
    props: true,
  },
  { path: "/records/:id", name: "record", component: () => import("./pages/RecordPage.vue"), meta: { title: "nav.record", auth: true }, props: true },
  { path: "/verify/:code", name: "verify", component: () => import("./pages/VerifyPage.vue"), meta: { title: "nav.verify" }, props: true },
  { path: "/disclosure", name: "disclosure", component: () => import("./pages/DisclosurePage.vue"), meta: { title: "nav.disclosure" } },
  { path: "/:rest(.*)*", name: "not-found", component: () => import("./pages/NotFoundPage.vue"), meta: { title: "nav.notFound" } },
];

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes,
  scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
});

router.beforeEach(async (to) => {
  if (!to.meta.auth) return true;
  let me = null;
  try {
    me = await loadMe();
  } catch {
    // server unreachable: let the page show its own error
    return true;
  }
  if (!me) return { name: "login", query: { redirect: to.fullPath } };
  return true;
});

/** Where to go after login: the ?redirect= path when it is one of ours, else home. */
export function redirectTarget(raw: unknown): string {
  const path = typeof raw === "string" ? raw : "";
  return path.startsWith("/") && !path.startsWith("//") && !path.startsWith("/login") ? path : "/";
}

/**
 * After login or registration: the informed consent first when it is not signed yet (no service
 * works without it, BJ 5.5.1.1), then where the patient was going.
 */
export async function continueAfterLogin(rawRedirect: unknown): Promise<void> {
  const target = redirectTarget(rawRedirect);
  try {
    const { data } = await api.GET("/api/v1/me/consent");
    if (data?.document && !data.accepted) {
      await router.replace({ name: "consent", query: { redirect: target } });
      return;
    }
  } catch {
    // the consent page and the server's consent_required answers still guard every service
  }
  await router.replace(target);
}
