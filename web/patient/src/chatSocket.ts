/**
 * The chat and signalling WebSocket `/api/v1/ws` (protocol: docs/chat.md): one socket for the app,
 * multiplexing consultation rooms. It authenticates with the session cookie (same origin), answers
 * the server's pings, reconnects with a backoff and re-subscribes every room from the last seq it has
 * seen (the server sends what was missed, in order, exactly once), and re-sends unacknowledged
 * messages (the server de-duplicates them by `client_msg_id`).
 */
import { ref } from "vue";

export type Frame = { type: string; room?: number; [key: string]: unknown };
export type IceServer = { urls: string | string[]; username?: string | null; credential?: string | null };
export type SocketState = "idle" | "connecting" | "open" | "reconnecting" | "unauthenticated";

type Listener = (frame: Frame) => void;

const CLOSE_UNAUTHENTICATED = 4401;
const MAX_BACKOFF_MS = 15_000;

function socketUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/api/v1/ws`;
}

class ChatSocket {
  readonly state = ref<SocketState>("idle");
  /** The signed-in account as the server sees it (from `hello`). */
  readonly account = ref<number | null>(null);
  iceServers: IceServer[] = [];

  private ws: WebSocket | null = null;
  private users = 0;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private silenceMs = 90_000;
  /** Room -> last seq seen (the resume point). */
  private readonly rooms = new Map<number, number>();
  private readonly listeners = new Map<number, Set<Listener>>();
  private readonly globalListeners = new Set<Listener>();
  /** Unacknowledged sends by client_msg_id, re-sent after a reconnect. */
  private readonly unacked = new Map<string, Frame>();

  /** Start using the socket (reference counted: the last `release` closes it). */
  retain(): void {
    this.users += 1;
    if (this.users === 1) this.connect();
  }

  release(): void {
    this.users = Math.max(0, this.users - 1);
    if (this.users > 0) return;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.state.value = "idle";
  }

  /** Follow a room from `afterSeq`; returns the function that stops following it. */
  joinRoom(room: number, afterSeq: number, listener: Listener): () => void {
    this.rooms.set(room, Math.max(afterSeq, this.rooms.get(room) ?? 0));
    let set = this.listeners.get(room);
    if (!set) {
      set = new Set();
      this.listeners.set(room, set);
    }
    set.add(listener);
    this.subscribe(room);
    return () => {
      set?.delete(listener);
      if (set && set.size === 0) {
        this.listeners.delete(room);
        this.rooms.delete(room);
        this.raw({ type: "unsubscribe", room });
      }
    };
  }

  /** Frames not tied to a room (hello, errors without a room). */
  onAny(listener: Listener): () => void {
    this.globalListeners.add(listener);
    return () => this.globalListeners.delete(listener);
  }

  /** Record that `seq` of `room` was seen, so a reconnect resumes after it. */
  seen(room: number, seq: number): void {
    if (this.rooms.has(room) && seq > (this.rooms.get(room) ?? 0)) this.rooms.set(room, seq);
  }

  /** Send a chat message; kept until its ack and re-sent after a reconnect. */
  sendMessage(frame: Frame & { client_msg_id: string }): void {
    this.unacked.set(frame.client_msg_id, frame);
    this.raw(frame);
  }

  /** Any other frame (receipts, typing, signalling); dropped while disconnected. */
  raw(frame: Frame): boolean {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  private subscribe(room: number): void {
    this.raw({ type: "subscribe", room, after_seq: this.rooms.get(room) ?? 0, ref: `subscribe-${room}` });
  }

  private connect(): void {
    this.clearTimers();
    this.state.value = this.attempt === 0 ? "connecting" : "reconnecting";
    let ws: WebSocket;
    try {
      ws = new WebSocket(socketUrl(), ["ihis.v1"]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.state.value = "open";
      this.armWatchdog();
      for (const room of this.rooms.keys()) this.subscribe(room);
      for (const frame of this.unacked.values()) this.raw(frame);
    };
    ws.onmessage = (event: MessageEvent) => {
      if (this.ws !== ws) return;
      this.armWatchdog();
      let frame: Frame;
      try {
        frame = JSON.parse(String(event.data)) as Frame;
      } catch {
        return;
      }
      if (!frame || typeof frame.type !== "string") return;
      this.dispatch(frame);
    };
    ws.onclose = (event: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === CLOSE_UNAUTHENTICATED) {
        this.state.value = "unauthenticated";
        this.clearTimers();
        return;
      }
      if (this.users > 0) this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnect
    };
  }

  private dispatch(frame: Frame): void {
    switch (frame.type) {
      case "hello": {
        this.account.value = typeof frame.account === "number" ? frame.account : null;
        this.iceServers = Array.isArray(frame.ice_servers) ? (frame.ice_servers as IceServer[]) : [];
        const beat = typeof frame.heartbeat_seconds === "number" ? frame.heartbeat_seconds : 30;
        const idle = typeof frame.idle_timeout_seconds === "number" ? frame.idle_timeout_seconds : 90;
        this.silenceMs = Math.max(beat * 2, idle) * 1000 + 5_000;
        this.armWatchdog();
        break;
      }
      case "ping":
        this.raw({ type: "pong" });
        return;
      case "pong":
        return;
      case "ack":
        if (typeof frame.client_msg_id === "string") this.unacked.delete(frame.client_msg_id);
        break;
      case "error": {
        // A refused send is not re-sent: the room shows it as failed.
        if (typeof frame.ref === "string") this.unacked.delete(frame.ref);
        break;
      }
      case "message":
        if (typeof frame.room === "number" && typeof frame.seq === "number") this.seen(frame.room, frame.seq);
        break;
      default:
        break;
    }
    const room = typeof frame.room === "number" ? frame.room : roomOfRef(frame.ref);
    if (room !== null) {
      for (const listener of [...(this.listeners.get(room) ?? [])]) listener(frame);
    }
    for (const listener of [...this.globalListeners]) listener(frame);
  }

  /** A socket that hears nothing (not even pings) for too long is dead: drop it and reconnect. */
  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      const ws = this.ws;
      this.ws = null;
      ws?.close(4000);
      if (this.users > 0) this.scheduleReconnect();
    }, this.silenceMs);
  }

  private scheduleReconnect(): void {
    this.clearTimers();
    this.state.value = "reconnecting";
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearTimeout(this.watchdog);
    this.retryTimer = null;
    this.watchdog = null;
  }
}

function roomOfRef(ref: unknown): number | null {
  if (typeof ref !== "string") return null;
  const match = /^subscribe-(\d+)$/.exec(ref) ?? /^m(\d+)-/.exec(ref) ?? /^s(\d+)-/.exec(ref);
  return match ? Number(match[1]) : null;
}

/** The app's one socket. */
export const chatSocket = new ChatSocket();

/** A new client_msg_id that also names the room (so an error frame finds its room). */
export function newClientMsgId(room: number): string {
  const random = typeof crypto !== "undefined" && "randomUUID" in crypto ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return `m${room}-${random}`.slice(0, 64);
}
