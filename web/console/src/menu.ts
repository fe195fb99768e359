/** The side menu: each entry is shown only when the user holds one of its permissions (and, for
 * entries with `roles`, one of those roles: the doctor's own sessions are a role's, not a permission's). */
export interface MenuEntry {
  key: string; // i18n key under menu.* and the data-testid suffix
  route?: string; // route name
  icon: string; // Element Plus icon component name
  permissions: string[];
  roles?: string[];
  children?: MenuEntry[];
}

export const MENU: MenuEntry[] = [
  { key: "home", route: "home", icon: "HomeFilled", permissions: [] },
  { key: "staff", route: "staff", icon: "User", permissions: ["staff.read"] },
  {
    key: "org",
    icon: "OfficeBuilding",
    permissions: ["org.manage", "staff.read", "profile.review", "disclosure.manage"],
    children: [
      { key: "campuses", route: "campuses", icon: "Location", permissions: ["org.manage"] },
      { key: "departments", route: "departments", icon: "Grid", permissions: ["org.manage"] },
      { key: "prices", route: "prices", icon: "Money", permissions: ["org.manage"] },
      { key: "profiles", route: "profiles", icon: "Postcard", permissions: ["org.manage", "staff.read"] },
      { key: "reviews", route: "reviews", icon: "Checked", permissions: ["profile.review"] },
      { key: "disclosure", route: "disclosure", icon: "Reading", permissions: ["disclosure.manage"] },
    ],
  },
  { key: "myProfile", route: "my-profile", icon: "Avatar", permissions: ["profile.edit_own"] },
  {
    key: "mySessions",
    route: "my-sessions",
    icon: "Calendar",
    permissions: [],
    roles: ["doctor"],
  },
  { key: "workstation", route: "workstation", icon: "FirstAidKit", permissions: [], roles: ["doctor"] },
  { key: "formulary", route: "formulary", icon: "Box", permissions: ["formulary.read"] },
  { key: "pharmacyOrders", route: "pharmacy-orders", icon: "Van", permissions: ["pharmacy.dispense"] },
  { key: "pharmacyPickup", route: "pharmacy-pickup", icon: "Aim", permissions: ["pharmacy.dispense"] },
  { key: "pharmacyReview", route: "pharmacy-review", icon: "Checked", permissions: ["rx.review", "pharmacy.duty_read"] },
  { key: "adverseReactions", route: "adverse-reactions", icon: "Warning", permissions: [], roles: ["quality"] },
  { key: "mySigning", route: "my-signing", icon: "Stamp", permissions: [], roles: ["doctor", "pharmacist", "senior_pharmacist"] },
  {
    key: "scheduling",
    icon: "Calendar",
    permissions: ["schedule.manage"],
    children: [
      { key: "schedule", route: "schedule", icon: "Calendar", permissions: ["schedule.manage"] },
      { key: "scheduleTemplates", route: "schedule-templates", icon: "Files", permissions: ["schedule.manage"] },
      { key: "registrations", route: "registrations", icon: "Tickets", permissions: ["schedule.manage"] },
      { key: "blacklist", route: "booking-blocks", icon: "CircleClose", permissions: ["schedule.manage"] },
    ],
  },
  {
    key: "notifications",
    icon: "Bell",
    permissions: ["notification.manage"],
    children: [
      { key: "notificationTemplates", route: "notification-templates", icon: "EditPen", permissions: ["notification.manage"] },
      { key: "deliveries", route: "notification-deliveries", icon: "Message", permissions: ["notification.manage"] },
    ],
  },
  { key: "bills", route: "bills", icon: "Wallet", permissions: ["billing.read"] },
  { key: "consents", route: "consents", icon: "Document", permissions: ["consent.manage"] },
  { key: "audit", route: "audit", icon: "Search", permissions: ["audit.read"] },
  { key: "sandboxSms", route: "sandbox-sms", icon: "ChatDotRound", permissions: ["sandbox.outbox_read"] },
];

/** data-testid of a menu entry: menu-staff, menu-audit, menu-sandbox-sms, menu-my-profile ... */
export function menuTestId(key: string): string {
  return "menu-" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}
