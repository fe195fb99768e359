/**
 * One consultation room on the shared socket: the ordered messages (by seq, no duplicates), the
 * patient's own messages until the server has them, the other side's delivery and read receipts,
 * sending text, images and voice clips, and the room's open/closed state.
 */
import { ApiProblem, CSRF_HEADER, readCookie, type ProblemBody } from "@ihis/shared/api";
import { currentLocale } from "@ihis/shared/i18n";
import { computed, onBeforeUnmount, ref, watch, type Ref } from "vue";
import { chatSocket, newClientMsgId, type Frame } from "./chatSocket";

export type ChatFile = { key: string; content_type: string | null; size: number | null; duration_ms: number | null };
export type ChatMessage = {
  id: number;
  room: number;
  seq: number;
  sender: number | null;
  kind: string;
  body: string | null;
  file: ChatFile | null;
  client_msg_id: string | null;
  created_at: string;
};
export type PendingMessage = { client_msg_id: string; kind: string; body: string | null; file_key: string | null; failed: string };
type Receipt = { account: number; delivered_seq: number; read_seq: number };

export function roomFileUrl(room: number, key: string): string {
  return `/api/v1/rooms/${room}/files/${encodeURIComponent(key)}`;
}

async function problemOf(response: Response, path: string): Promise<ApiProblem> {
  let body: ProblemBody = { title: response.statusText || `HTTP ${response.status}` };
  try {
    body = (await response.json()) as ProblemBody;
  } catch {
    // keep the status line
  }
  return new ApiProblem(response.status, body, { retryAfterHeader: response.headers.get("Retry-After"), path });
}

/** Upload an image or voice clip to the room; the answer's key goes into the message. */
export async function uploadRoomFile(room: number, file: Blob, filename: string): Promise<{ key: string; kind: string }> {
  const form = new FormData();
  form.append("file", file, filename);
  const headers: Record<string, string> = { "Accept-Language": currentLocale() };
  const csrf = readCookie("ihis_csrf");
  if (csrf) headers[CSRF_HEADER] = csrf;
  const path = `/api/v1/rooms/${room}/files`;
  let response: Response;
  try {
    response = await fetch(path, { method: "POST", body: form, headers, credentials: "same-origin" });
  } catch (err) {
    throw new ApiProblem(0, { title: "Network error", detail: String(err), code: "network_error" }, { path });
  }
  if (!response.ok) throw await problemOf(response, path);
  return (await response.json()) as { key: string; kind: string };
}

/** Earlier messages over HTTP (a closed room the socket no longer subscribes to). */
async function fetchHistory(room: number, afterSeq: number): Promise<ChatMessage[]> {
  const path = `/api/v1/rooms/${room}/messages?after_seq=${afterSeq}&limit=200`;
  const response = await fetch(path, { credentials: "same-origin", headers: { "Accept-Language": currentLocale() } });
  if (!response.ok) throw await problemOf(response, path);
  const data = (await response.json()) as { messages: ChatMessage[] };
  return data.messages;
}

export function useChatRoom(roomId: Ref<number | null>, onSignal: (frame: Frame) => void) {
  const messages = ref<ChatMessage[]>([]);
  const pending = ref<PendingMessage[]>([]);
  const receipts = ref<Receipt[]>([]);
  const status = ref<string>("open");
  const error = ref("");
  const subscribed = ref(false);
  const me = chatSocket.account;
  let leave: (() => void) | null = null;
  let readTimer: ReturnType<typeof setTimeout> | null = null;
  let lastDelivered = 0;
  let lastRead = 0;

  const lastSeq = computed(() => messages.value.at(-1)?.seq ?? 0);
  /** What the other side (the doctor) has received and read. */
  const peer = computed(() => {
    const others = receipts.value.filter((r) => r.account !== me.value);
    return {
      delivered: Math.max(0, ...others.map((r) => r.delivered_seq)),
      read: Math.max(0, ...others.map((r) => r.read_seq)),
    };
  });

  function add(message: ChatMessage): void {
    const list = messages.value;
    if (list.some((m) => m.seq === message.seq)) return;
    if (!list.length || list[list.length - 1]!.seq < message.seq) list.push(message);
    else {
      list.push(message);
      list.sort((a, b) => a.seq - b.seq);
    }
    if (message.client_msg_id) pending.value = pending.value.filter((p) => p.client_msg_id !== message.client_msg_id);
  }

  function acknowledge(): void {
    const room = roomId.value;
    if (!room) return;
    const theirs = messages.value.filter((m) => m.sender !== me.value);
    const top = theirs.at(-1)?.seq ?? 0;
    if (top > lastDelivered) {
      lastDelivered = top;
      chatSocket.raw({ type: "receipt", room, seq: top, status: "delivered" });
    }
    if (readTimer) clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (document.visibilityState !== "visible") return;
      const seq = lastSeq.value;
      if (seq > lastRead && top > 0) {
        lastRead = seq;
        chatSocket.raw({ type: "receipt", room, seq, status: "read" });
      }
    }, 400);
  }

  function onFrame(frame: Frame): void {
    switch (frame.type) {
      case "message":
        add(frame as unknown as ChatMessage);
        acknowledge();
        break;
      case "subscribed":
        subscribed.value = true;
        error.value = "";
        status.value = typeof frame.status === "string" ? frame.status : status.value;
        if (Array.isArray(frame.receipts)) receipts.value = frame.receipts as Receipt[];
        acknowledge();
        break;
      case "receipt": {
        const r = { account: Number(frame.account), delivered_seq: Number(frame.delivered_seq), read_seq: Number(frame.read_seq) };
        receipts.value = [...receipts.value.filter((x) => x.account !== r.account), r];
        break;
      }
      case "room":
        if (typeof frame.status === "string") status.value = frame.status;
        break;
      case "removed":
        status.value = "closed";
        break;
      case "ack":
        // the message itself arrives as a "message" frame; nothing more to do
        break;
      case "error": {
        const detail = typeof frame.detail === "string" ? frame.detail : String(frame.code ?? "error");
        const ref = typeof frame.ref === "string" ? frame.ref : "";
        const sent = pending.value.find((p) => p.client_msg_id === ref);
        if (sent) sent.failed = detail;
        else if (ref.startsWith("subscribe-")) void loadHistoryOverHttp(detail);
        else if (/^s\d+-/.test(ref)) onSignal(frame);
        else error.value = detail;
        break;
      }
      case "signal":
      case "call":
        onSignal(frame);
        break;
      default:
        break;
    }
  }

  async function loadHistoryOverHttp(socketError: string): Promise<void> {
    const room = roomId.value;
    if (!room) return;
    try {
      for (const m of await fetchHistory(room, lastSeq.value)) add(m);
      status.value = "closed";
    } catch {
      error.value = socketError;
    }
  }

  function send(kind: "text" | "image" | "voice", body: string | null, fileKey: string | null): void {
    const room = roomId.value;
    if (!room) return;
    const clientMsgId = newClientMsgId(room);
    pending.value.push({ client_msg_id: clientMsgId, kind, body, file_key: fileKey, failed: "" });
    chatSocket.sendMessage({
      type: "send",
      room,
      client_msg_id: clientMsgId,
      kind,
      ...(body !== null ? { body } : {}),
      ...(fileKey !== null ? { file_key: fileKey } : {}),
    });
  }

  function retry(p: PendingMessage): void {
    const room = roomId.value;
    if (!room) return;
    p.failed = "";
    chatSocket.sendMessage({
      type: "send",
      room,
      client_msg_id: p.client_msg_id,
      kind: p.kind,
      ...(p.body !== null ? { body: p.body } : {}),
      ...(p.file_key !== null ? { file_key: p.file_key } : {}),
    });
  }

  async function sendFile(file: Blob, filename: string, kind: "image" | "voice"): Promise<void> {
    const room = roomId.value;
    if (!room) return;
    const uploaded = await uploadRoomFile(room, file, filename);
    send(kind, null, uploaded.key);
  }

  function onVisible(): void {
    if (document.visibilityState === "visible") acknowledge();
  }

  watch(
    roomId,
    (room) => {
      leave?.();
      leave = null;
      messages.value = [];
      pending.value = [];
      receipts.value = [];
      subscribed.value = false;
      lastDelivered = 0;
      lastRead = 0;
      if (room) leave = chatSocket.joinRoom(room, 0, onFrame);
    },
    { immediate: true },
  );
  chatSocket.retain();
  document.addEventListener("visibilitychange", onVisible);
  onBeforeUnmount(() => {
    leave?.();
    chatSocket.release();
    document.removeEventListener("visibilitychange", onVisible);
    if (readTimer) clearTimeout(readTimer);
  });

  return { messages, pending, status, error, subscribed, peer, me, lastSeq, send, sendFile, retry, socketState: chatSocket.state };
}
