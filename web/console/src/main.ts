import { createApp } from "vue";
import ElementPlus from "element-plus";
import "element-plus/dist/index.css";
import * as ElementPlusIcons from "@element-plus/icons-vue";
import App from "./App.vue";
import { router } from "./router";
import { i18n } from "./i18n";
import { installAuthHooks } from "./auth-flow";
import "./styles.css";

const app = createApp(App);
// Full Element Plus registration: the console uses most of the library, and one cached chunk is
// simpler than per-page imports. Locale comes from <el-config-provider> in App.vue.
app.use(ElementPlus);
for (const [name, component] of Object.entries(ElementPlusIcons)) app.component(name, component);
app.use(i18n);
app.use(router);
installAuthHooks();
app.mount("#app");
