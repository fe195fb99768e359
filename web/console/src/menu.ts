/** The side menu: each entry is shown only when the user holds one of its permissions. */
export interface MenuEntry {
  key: string; // i18n key under menu.* and the data-testid suffix
  route?: string; // route name
  icon: string; // Element Plus icon component name
  permissions: string[];
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
  { key: "consents", route: "consents", icon: "Document", permissions: ["consent.manage"] },
  { key: "audit", route: "audit", icon: "Search", permissions: ["audit.read"] },
  { key: "sandboxSms", route: "sandbox-sms", icon: "ChatDotRound", permissions: ["sandbox.outbox_read"] },
];

/** data-testid of a menu entry: menu-staff, menu-audit, menu-sandbox-sms, menu-my-profile ... */
export function menuTestId(key: string): string {
  return "menu-" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}
