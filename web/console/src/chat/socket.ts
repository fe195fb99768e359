/**
 * The chat socket `/api/v1/ws` (protocol: docs/chat.md; server: src/ihis/messaging/ws.py).
 *
 * One socket per page, authenticated by the session cookie (the server checks the Origin). Rooms
 * are subscribed with `after_seq` = the last seq seen, so after a reconnect the server sends exactly
 * what was missed (no loss); messages are kept by seq (no duplicates). Sends carry a client_msg_id
 * and are resent after a reconnect until acked (the server makes them idempotent by that id).
 * The server pings every `heartbeat_seconds`; the socket answers and also pings itself, and
 * reconnects when nothing was heard for `idle_timeout_seconds`.
 */
import { reactive } from "vue";

export interface ChatFile {
  key: string;
  content_type: string | null;
  size: number | null;
  duration_ms: number | null;
}

export interface ChatMessage {
  id: number;
  room: number;
  seq: number;
  sender: number | null;
  kind: string;
  body: string | null;
  file: ChatFile | null;
  client_msg_id: string | null;
  created_at: string;
}

export interface IceServer {
  urls: string[];
  username?: string | null;
  credential?: string | null;
}

export interface Receipt {
  account: number;
  delivered_seq: number;
  read_seq: number;
}

export interface Outgoing {
  client_msg_id: string;
  room: number;
  kind: "text" | "image" | "voice";
  body: string | null;
  file_key: string | null;
  state: "sending" | "acked" | "failed";
  error: string | null;
}

/** A frame from the server (loosely typed: each handler reads what it needs). */
export type Frame = { type: string } & Record<string, unknown>;

export type SocketState = "connecting" | "open" | "reconnecting" | "closed" | "unauthenticated";

interface RoomState {
  lastSeq: number;
  status: string;
  messages: ChatMessage[];
  receipts: Record<number, Receipt>;
  outgoing: Outgoing[];
}

const CLOSE_UNAUTHENTICATED = 4401;
const MAX_BACKOFF_MS = 15000;

function newId(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

export function socketUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/api/v1/ws`;
}

export class ChatSocket {
  readonly state = reactive({
    status: "connecting" as SocketState,
    account: null as number | null,
    iceServers: [] as IceServer[],
    lastError: null as string | null,
  });
  readonly rooms = reactive<Record<number, RoomState>>({});

  private ws: WebSocket | null = null;
  private closedByUser = false;
  private attempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private beatTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = Date.now();
  private heartbeatMs = 25000;
  private idleMs = 75000;
  private listeners = new Set<(frame: Frame) => void>();

  constructor(private readonly url: string = socketUrl()) {}

  connect(): void {
    this.closedByUser = false;
    this.open();
  }

  close(): void {
    this.closedByUser = true;
    this.clearTimers();
    this.ws?.close(1000);
    this.ws = null;
    this.state.status = "closed";
  }

  /** Frames as they arrive (signalling, typing, errors...). Returns the unsubscribe function. */
  on(listener: (frame: Frame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  room(id: number): RoomState {
    let room = this.rooms[id];
    if (!room) {
      this.rooms[id] = { lastSeq: 0, status: "open", messages: [], receipts: {}, outgoing: [] };
      room = this.rooms[id]!;
    }
    return room;
  }

  subscribe(roomId: number): void {
    const room = this.room(roomId);
    this.raw({ type: "subscribe", room: roomId, after_seq: room.lastSeq });
  }

  /** Queue a message; it is sent now if the socket is open, or after the next (re)connect. */
  send(roomId: number, kind: Outgoing["kind"], body: string | null, fileKey: string | null = null): Outgoing {
    const room = this.room(roomId);
    const out: Outgoing = { client_msg_id: newId(), room: roomId, kind, body, file_key: fileKey, state: "sending", error: null };
    room.outgoing.push(out);
    const queued = room.outgoing[room.outgoing.length - 1]!; // the reactive copy
    this.sendOutgoing(queued);
    return queued;
  }

  retry(out: Outgoing): void {
    out.state = "sending";
    out.error = null;
    this.sendOutgoing(out);
  }

  receipt(roomId: number, seq: number, status: "delivered" | "read"): void {
    this.raw({ type: "receipt", room: roomId, seq, status });
  }

  /** A signalling frame (invite/accept/decline/hangup/offer/answer/ice). */
  signal(roomId: number, action: string, extra: Record<string, unknown> = {}): boolean {
    return this.raw({ type: "signal", room: roomId, action, ...extra });
  }

  // --- internals -------------------------------------------------------------------------------

  private sendOutgoing(out: Outgoing): void {
    const frame: Record<string, unknown> = { type: "send", room: out.room, client_msg_id: out.client_msg_id, kind: out.kind };
    if (out.body !== null) frame.body = out.body;
    if (out.file_key !== null) frame.file_key = out.file_key;
    this.raw(frame);
  }

  private raw(frame: Record<string, unknown>): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private open(): void {
    this.state.status = this.attempts === 0 ? "connecting" : "reconnecting";
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.state.lastError = String(err);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      this.lastHeard = Date.now();
    };
    ws.onmessage = (event: MessageEvent) => {
      this.lastHeard = Date.now();
      let frame: Frame;
      try {
        frame = JSON.parse(String(event.data)) as Frame;
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = (event: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      if (this.closedByUser) return;
      if (event.code === CLOSE_UNAUTHENTICATED) {
        this.state.status = "unauthenticated";
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      this.state.lastError = "socket error";
    };
  }

  private scheduleReconnect(): void {
    if (this.closedByUser) return;
    this.state.status = "reconnecting";
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempts) + Math.random() * 300;
    this.attempts += 1;
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.beatTimer) clearInterval(this.beatTimer);
    this.reconnectTimer = null;
    this.beatTimer = null;
  }

  private startHeartbeat(): void {
    if (this.beatTimer) clearInterval(this.beatTimer);
    this.beatTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > this.idleMs) {
        this.ws?.close(4000); // dead: reconnect and resume by seq
        return;
      }
      this.raw({ type: "ping" });
    }, this.heartbeatMs);
  }

  private handle(frame: Frame): void {
    switch (frame.type) {
      case "hello": {
        this.state.account = typeof frame.account === "number" ? frame.account : null;
        this.state.iceServers = Array.isArray(frame.ice_servers) ? (frame.ice_servers as IceServer[]) : [];
        if (typeof frame.heartbeat_seconds === "number") this.heartbeatMs = frame.heartbeat_seconds * 1000;
        if (typeof frame.idle_timeout_seconds === "number") this.idleMs = frame.idle_timeout_seconds * 1000;
        this.state.status = "open";
        this.startHeartbeat();
        for (const id of Object.keys(this.rooms)) {
          const roomId = Number(id);
          this.subscribe(roomId);
          for (const out of this.rooms[roomId]!.outgoing) if (out.state === "sending") this.sendOutgoing(out);
        }
        break;
      }
      case "ping":
        this.raw({ type: "pong" });
        break;
      case "message":
        this.onMessage(frame as unknown as ChatMessage & { type: string });
        break;
      case "ack":
        this.onAck(frame);
        break;
      case "subscribed": {
        const room = this.room(Number(frame.room));
        if (typeof frame.status === "string") room.status = frame.status;
        if (Array.isArray(frame.receipts)) for (const r of frame.receipts as Receipt[]) room.receipts[r.account] = r;
        break;
      }
      case "receipt": {
        const room = this.room(Number(frame.room));
        const r = { account: Number(frame.account), delivered_seq: Number(frame.delivered_seq), read_seq: Number(frame.read_seq) };
        room.receipts[r.account] = r;
        break;
      }
      case "room":
        if (typeof frame.status === "string") this.room(Number(frame.room)).status = frame.status;
        break;
      case "removed":
        this.room(Number(frame.room)).status = "removed";
        break;
      case "error":
        this.onError(frame);
        break;
      default:
        break;
    }
    for (const listener of this.listeners) listener(frame);
  }

  private onMessage(m: ChatMessage): void {
    const room = this.room(m.room);
    if (m.seq <= room.lastSeq || room.messages.some((x) => x.seq === m.seq)) return; // seen already
    const message: ChatMessage = {
      id: m.id,
      room: m.room,
      seq: m.seq,
      sender: m.sender,
      kind: m.kind,
      body: m.body,
      file: m.file,
      client_msg_id: m.client_msg_id,
      created_at: m.created_at,
    };
    room.messages.push(message);
    room.lastSeq = m.seq;
    if (m.client_msg_id) {
      const i = room.outgoing.findIndex((o) => o.client_msg_id === m.client_msg_id);
      if (i >= 0) room.outgoing.splice(i, 1);
    }
    if (m.sender !== null && m.sender !== this.state.account) this.receipt(m.room, m.seq, "delivered");
  }

  private onAck(frame: Frame): void {
    const room = this.room(Number(frame.room));
    const out = room.outgoing.find((o) => o.client_msg_id === frame.client_msg_id);
    if (!out) return;
    const seq = Number(frame.seq);
    if (seq <= room.lastSeq) room.outgoing.splice(room.outgoing.indexOf(out), 1); // already shown
    else out.state = "acked";
  }

  private onError(frame: Frame): void {
    const detail = typeof frame.detail === "string" ? frame.detail : String(frame.code ?? "error");
    this.state.lastError = detail;
    if (typeof frame.ref !== "string") return;
    for (const room of Object.values(this.rooms)) {
      const out = room.outgoing.find((o) => o.client_msg_id === frame.ref);
      if (out) {
        out.state = "failed";
        out.error = detail;
      }
    }
  }
}
