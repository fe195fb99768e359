/**
 * Vant, registered per component (only what the app uses ends up in the bundle), plus Vant's own
 * translations following the app locale.
 */
import type { App } from "vue";
import {
  ActionSheet,
  Button,
  Cell,
  CellGroup,
  Checkbox,
  ConfigProvider,
  Dialog,
  Divider,
  Empty,
  Field,
  Grid,
  GridItem,
  Icon,
  Loading,
  Locale,
  NavBar,
  NoticeBar,
  Radio,
  RadioGroup,
  Search,
  Skeleton,
  Step,
  Steps,
  Tab,
  Tabbar,
  TabbarItem,
  Tabs,
  Tag,
} from "vant";
import enUS from "vant/es/locale/lang/en-US";
import zhCN from "vant/es/locale/lang/zh-CN";

import "vant/es/action-sheet/style/index";
import "vant/es/button/style/index";
import "vant/es/cell/style/index";
import "vant/es/cell-group/style/index";
import "vant/es/checkbox/style/index";
import "vant/es/config-provider/style/index";
import "vant/es/dialog/style/index";
import "vant/es/divider/style/index";
import "vant/es/empty/style/index";
import "vant/es/field/style/index";
import "vant/es/grid/style/index";
import "vant/es/grid-item/style/index";
import "vant/es/icon/style/index";
import "vant/es/loading/style/index";
import "vant/es/nav-bar/style/index";
import "vant/es/notice-bar/style/index";
import "vant/es/radio/style/index";
import "vant/es/radio-group/style/index";
import "vant/es/search/style/index";
import "vant/es/skeleton/style/index";
import "vant/es/step/style/index";
import "vant/es/steps/style/index";
import "vant/es/tab/style/index";
import "vant/es/tabbar/style/index";
import "vant/es/tabbar-item/style/index";
import "vant/es/tabs/style/index";
import "vant/es/tag/style/index";
import "vant/es/toast/style/index";

const components = [
  ActionSheet,
  Button,
  Cell,
  CellGroup,
  Checkbox,
  ConfigProvider,
  Dialog,
  Divider,
  Empty,
  Field,
  Grid,
  GridItem,
  Icon,
  Loading,
  NavBar,
  NoticeBar,
  Radio,
  RadioGroup,
  Search,
  Skeleton,
  Step,
  Steps,
  Tab,
  Tabbar,
  TabbarItem,
  Tabs,
  Tag,
];

export function installVant(app: App): void {
  for (const component of components) app.use(component);
}

export function useVantLocale(locale: string): void {
  if (locale === "en") Locale.use("en-US", enUS);
  else Locale.use("zh-CN", zhCN);
}
