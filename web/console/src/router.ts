import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router";
import { ApiProblem } from "./api/http";
import { canAny, loadMe, session, stepRoute } from "./session";

declare module "vue-router" {
  interface RouteMeta {
    /** Reachable without a complete login (the login steps). */
    public?: boolean;
    /** Any one of these permissions opens the page. */
    permissions?: string[];
    /** Any one of these roles opens the page (for role-gated server endpoints such as /me/sessions). */
    roles?: string[];
    /** i18n key of the page title. */
    title?: string;
  }
}

const routes: RouteRecordRaw[] = [
  { path: "/login", name: "login", component: () => import("./pages/auth/LoginPage.vue"), meta: { public: true, title: "login.title" } },
  { path: "/login/mfa", name: "login-mfa", component: () => import("./pages/auth/MfaPage.vue"), meta: { public: true, title: "mfa.title" } },
  { path: "/login/enrol", name: "login-enrol", component: () => import("./pages/auth/EnrolPage.vue"), meta: { public: true, title: "enrol.title" } },
  {
    path: "/login/password",
    name: "login-password",
    component: () => import("./pages/auth/ChangePasswordPage.vue"),
    meta: { public: true, title: "password.title" },
  },
  {
    path: "/",
    component: () => import("./layouts/ConsoleLayout.vue"),
    children: [
      { path: "", name: "home", component: () => import("./pages/HomePage.vue"), meta: { title: "menu.home" } },
      {
        path: "staff",
        name: "staff",
        component: () => import("./pages/staff/StaffPage.vue"),
        meta: { permissions: ["staff.read"], title: "menu.staff" },
      },
      {
        path: "org/campuses",
        name: "campuses",
        component: () => import("./pages/org/CampusesPage.vue"),
        meta: { permissions: ["org.manage"], title: "menu.campuses" },
      },
      {
        path: "org/departments",
        name: "departments",
        component: () => import("./pages/org/DepartmentsPage.vue"),
        meta: { permissions: ["org.manage"], title: "menu.departments" },
      },
      {
        path: "org/prices",
        name: "prices",
        component: () => import("./pages/org/PricesPage.vue"),
        meta: { permissions: ["org.manage"], title: "menu.prices" },
      },
      {
        path: "org/profiles",
        name: "profiles",
        component: () => import("./pages/org/ProfilesPage.vue"),
        meta: { permissions: ["org.manage", "staff.read"], title: "menu.profiles" },
      },
      {
        path: "org/reviews",
        name: "reviews",
        component: () => import("./pages/org/ReviewsPage.vue"),
        meta: { permissions: ["profile.review"], title: "menu.reviews" },
      },
      {
        path: "org/disclosure",
        name: "disclosure",
        component: () => import("./pages/org/DisclosurePage.vue"),
        meta: { permissions: ["disclosure.manage"], title: "menu.disclosure" },
      },
      {
        path: "me/profile",
        name: "my-profile",
        component: () => import("./pages/profile/MyProfilePage.vue"),
        meta: { permissions: ["profile.edit_own"], title: "menu.myProfile" },
      },
      {
        path: "consents",
        name: "consents",
        component: () => import("./pages/consent/ConsentsPage.vue"),
        meta: { permissions: ["consent.manage"], title: "menu.consents" },
      },
      {
        path: "audit",
        name: "audit",
        component: () => import("./pages/audit/AuditPage.vue"),
        meta: { permissions: ["audit.read"], title: "menu.audit" },
      },
      {
        path: "scheduling/sessions",
        name: "schedule",
        component: () => import("./pages/scheduling/SessionsPage.vue"),
        meta: { permissions: ["schedule.manage"], title: "menu.schedule" },
      },
      {
        path: "scheduling/templates",
        name: "schedule-templates",
        component: () => import("./pages/scheduling/TemplatesPage.vue"),
        meta: { permissions: ["schedule.manage"], title: "menu.scheduleTemplates" },
      },
      {
        path: "me/sessions",
        name: "my-sessions",
        component: () => import("./pages/scheduling/MySessionsPage.vue"),
        meta: { roles: ["doctor"], title: "menu.mySessions" },
      },
      {
        path: "workstation",
        name: "workstation",
        component: () => import("./pages/workstation/WorkstationPage.vue"),
        meta: { roles: ["doctor"], title: "menu.workstation" },
      },
      {
        path: "workstation/consultations/:id(\\d+)",
        name: "consultation",
        component: () => import("./pages/workstation/ConsultationPage.vue"),
        meta: { roles: ["doctor"], title: "workstation.consultationTitle" },
      },
      {
        path: "formulary",
        name: "formulary",
        component: () => import("./pages/formulary/FormularyPage.vue"),
        meta: { permissions: ["formulary.read"], title: "menu.formulary" },
      },
      {
        path: "pharmacy/orders",
        name: "pharmacy-orders",
        component: () => import("./pages/pharmacy/OrdersPage.vue"),
        meta: { permissions: ["pharmacy.dispense"], title: "menu.pharmacyOrders" },
      },
      {
        path: "pharmacy/pickup",
        name: "pharmacy-pickup",
        component: () => import("./pages/pharmacy/PickupPage.vue"),
        meta: { permissions: ["pharmacy.dispense"], title: "menu.pharmacyPickup" },
      },
      {
        path: "quality/adverse-reactions",
        name: "adverse-reactions",
        component: () => import("./pages/quality/AdverseReactionsPage.vue"),
        meta: { roles: ["quality"], title: "menu.adverseReactions" },
      },
      {
        path: "pharmacy/reviews",
        name: "pharmacy-review",
        component: () => import("./pages/pharmacy/ReviewPage.vue"),
        meta: { permissions: ["rx.review", "pharmacy.duty_read"], title: "menu.pharmacyReview" },
      },
      {
        path: "me/signing",
        name: "my-signing",
        component: () => import("./pages/signing/SigningPinPage.vue"),
        meta: { title: "menu.mySigning" },
      },
      {
        path: "registrations",
        name: "registrations",
        component: () => import("./pages/registrations/RegistrationsPage.vue"),
        meta: { permissions: ["schedule.manage"], title: "menu.registrations" },
      },
      {
        path: "registrations/blocks",
        name: "booking-blocks",
        component: () => import("./pages/registrations/BlocksPage.vue"),
        meta: { permissions: ["schedule.manage"], title: "menu.blacklist" },
      },
      {
        path: "notifications/templates",
        name: "notification-templates",
        component: () => import("./pages/notifications/TemplatesPage.vue"),
        meta: { permissions: ["notification.manage"], title: "menu.notificationTemplates" },
      },
      {
        path: "notifications/deliveries",
        name: "notification-deliveries",
        component: () => import("./pages/notifications/DeliveriesPage.vue"),
        meta: { permissions: ["notification.manage"], title: "menu.deliveries" },
      },
      {
        path: "billing/bills",
        name: "bills",
        component: () => import("./pages/billing/BillsPage.vue"),
        meta: { permissions: ["billing.read"], title: "menu.bills" },
      },
      {
        path: "sandbox/sms",
        name: "sandbox-sms",
        component: () => import("./pages/sandbox/SmsOutboxPage.vue"),
        meta: { permissions: ["sandbox.outbox_read"], title: "menu.sandboxSms" },
      },
      { path: "forbidden", name: "forbidden", component: () => import("./pages/ForbiddenPage.vue") },
      { path: ":pathMatch(.*)*", name: "not-found", component: () => import("./pages/NotFoundPage.vue") },
    ],
  },
];

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes,
});

router.beforeEach(async (to) => {
  if (to.meta.public) return true;
  if (!session.me) {
    try {
      await loadMe();
    } catch (err) {
      const step = err instanceof ApiProblem ? stepRoute(err.next) : null;
      if (step) return { name: step };
      return { name: "login", query: to.fullPath === "/" ? {} : { redirect: to.fullPath } };
    }
  }
  const me = session.me;
  if (!me) return { name: "login" };
  const step = stepRoute(me.next);
  if (step) return { name: step };
  if (to.meta.permissions && !canAny(to.meta.permissions)) return { name: "forbidden" };
  if (to.meta.roles && !to.meta.roles.some((role) => me.roles.includes(role))) return { name: "forbidden" };
  return true;
});
