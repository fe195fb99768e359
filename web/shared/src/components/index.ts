export { default as Watermark } from "./Watermark.vue";
export { useIdleTimeout } from "./idle";
export { formatFen } from "./money";
