import { createApp } from "vue";
import App from "./App.vue";
import { i18n } from "./i18n";
import { router } from "./router";
import { installVant } from "./vant";

const app = createApp(App);
app.use(i18n);
app.use(router);
installVant(app);
app.mount("#app");
