import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

const backend = process.env.IHIS_BACKEND ?? "http://127.0.0.1:8000";

// Served by the API server (or nginx) at /app/; the console lives at /console/.
export default defineConfig({
  base: "/app/",
  plugins: [vue()],
  define: {
    // vue-i18n: Composition API only, no devtools in production builds.
    __VUE_I18N_FULL_INSTALL__: false,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __VUE_PROD_DEVTOOLS__: false,
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: false,
  },
  server: {
    port: 5173,
    proxy: {
      "/api": { target: backend, changeOrigin: false, ws: true },
      "/sandbox": { target: backend, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
  },
});
