/// <reference types="vite/client" />
import "vue-router";

declare module "vue-router" {
  interface RouteMeta {
    /** Needs a logged-in patient; otherwise -> login with ?redirect= */
    auth?: boolean;
    /** i18n key of the nav bar title */
    title?: string;
    /** Show the bottom tab bar */
    tabbar?: boolean;
    /** Hide the nav bar's back arrow (tab roots) */
    root?: boolean;
  }
}
