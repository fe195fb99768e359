/**
 * A 1:1 WebRTC call in one room, signalled over the chat socket (docs/chat.md):
 *
 *   caller: signal invite {media}      -> server answers a `call` frame with the call_id (matched by ref)
 *   callee: signal accept {call_id}    -> the caller creates the offer
 *   caller: signal offer {data: sdp}   -> callee: signal answer {data: sdp}
 *   both:   signal ice {data: candidate}, and signal hangup / decline to end it
 *
 * An offer received by either side is answered (so a peer that offers from the callee side works
 * too). ICE servers (STUN/TURN with time-limited credentials) come from the socket's `hello`.
 * Media never passes through IHIS.
 */
import { reactive, shallowRef } from "vue";
import type { ChatSocket, Frame } from "./socket";

export type CallPhase = "idle" | "calling" | "incoming" | "connecting" | "connected" | "ended" | "failed";

export class CallSession {
  readonly state = reactive({
    phase: "idle" as CallPhase,
    callId: null as string | null,
    media: "video" as "audio" | "video",
    connectionState: "new" as RTCPeerConnectionState,
    outcome: null as string | null,
    error: null as string | null,
  });
  readonly localStream = shallowRef<MediaStream | null>(null);
  readonly remoteStream = shallowRef<MediaStream | null>(null);

  private pc: RTCPeerConnection | null = null;
  private caller = false;
  private pendingIce: RTCIceCandidateInit[] = [];
  private inviteRef: string | null = null;
  private off: () => void;

  constructor(
    private readonly socket: ChatSocket,
    private readonly roomId: number,
  ) {
    this.off = socket.on((frame) => this.onFrame(frame));
  }

  dispose(): void {
    if (this.state.callId && this.state.phase !== "ended" && this.state.phase !== "idle") this.hangup();
    this.cleanup();
    this.off();
  }

  get active(): boolean {
    return ["calling", "incoming", "connecting", "connected"].includes(this.state.phase);
  }

  /** Ring the other side. */
  async start(media: "audio" | "video" = "video"): Promise<void> {
    if (this.active) return;
    this.reset();
    this.caller = true;
    this.state.media = media;
    try {
      await this.openMedia();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.inviteRef = `call-${Date.now().toString(36)}`;
    this.state.phase = "calling";
    if (!this.socket.signal(this.roomId, "invite", { media, ref: this.inviteRef })) this.fail(new Error("socket closed"));
  }

  /** Pick up an incoming call. */
  async accept(): Promise<void> {
    if (this.state.phase !== "incoming" || !this.state.callId) return;
    try {
      await this.openMedia();
    } catch (err) {
      this.socket.signal(this.roomId, "decline", { call_id: this.state.callId });
      this.fail(err);
      return;
    }
    this.state.phase = "connecting";
    this.ensurePeer();
    this.socket.signal(this.roomId, "accept", { call_id: this.state.callId });
  }

  decline(): void {
    if (this.state.phase !== "incoming" || !this.state.callId) return;
    this.socket.signal(this.roomId, "decline", { call_id: this.state.callId });
    this.end("declined");
  }

  hangup(): void {
    if (this.state.callId) this.socket.signal(this.roomId, "hangup", { call_id: this.state.callId });
    this.end("completed");
  }

  // --- internals -------------------------------------------------------------------------------

  private reset(): void {
    this.cleanup();
    this.state.callId = null;
    this.state.outcome = null;
    this.state.error = null;
    this.state.connectionState = "new";
    this.pendingIce = [];
  }

  private async openMedia(): Promise<void> {
    if (this.localStream.value) return;
    const video = this.state.media === "video";
    this.localStream.value = await navigator.mediaDevices.getUserMedia({ audio: true, video });
  }

  private ensurePeer(): RTCPeerConnection {
    if (this.pc) return this.pc;
    const iceServers = this.socket.state.iceServers.map((s) => ({
      urls: s.urls,
      ...(s.username ? { username: s.username } : {}),
      ...(s.credential ? { credential: s.credential } : {}),
    }));
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    const local = this.localStream.value;
    if (local) for (const track of local.getTracks()) pc.addTrack(track, local);
    pc.onicecandidate = (event) => {
      if (event.candidate && this.state.callId) {
        this.socket.signal(this.roomId, "ice", { call_id: this.state.callId, data: event.candidate.toJSON() });
      }
    };
    pc.ontrack = (event) => {
      const stream = event.streams[0] ?? new MediaStream([event.track]);
      this.remoteStream.value = stream;
    };
    pc.onconnectionstatechange = () => {
      this.state.connectionState = pc.connectionState;
      if (pc.connectionState === "connected") this.state.phase = "connected";
      else if (pc.connectionState === "failed") this.state.phase = "failed";
    };
    return pc;
  }

  private async makeOffer(): Promise<void> {
    const pc = this.ensurePeer();
    this.state.phase = "connecting";
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.socket.signal(this.roomId, "offer", { call_id: this.state.callId, data: { type: offer.type, sdp: offer.sdp } });
  }

  private async onOffer(data: RTCSessionDescriptionInit): Promise<void> {
    if (!this.localStream.value) await this.openMedia();
    const pc = this.ensurePeer();
    this.state.phase = "connecting";
    await pc.setRemoteDescription(data);
    await this.flushIce();
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.socket.signal(this.roomId, "answer", { call_id: this.state.callId, data: { type: answer.type, sdp: answer.sdp } });
  }

  private async flushIce(): Promise<void> {
    const pc = this.pc;
    if (!pc) return;
    const queued = this.pendingIce;
    this.pendingIce = [];
    for (const candidate of queued) await pc.addIceCandidate(candidate).catch(() => undefined);
  }

  private onFrame(frame: Frame): void {
    if (frame.room !== this.roomId) return;
    if (frame.type === "call" && frame.ref === this.inviteRef && typeof frame.call_id === "string") {
      this.state.callId = frame.call_id; // our invite is ringing
      return;
    }
    if (frame.type === "error" && this.inviteRef && frame.ref === this.inviteRef) {
      this.fail(new Error(typeof frame.detail === "string" ? frame.detail : "call refused"));
      return;
    }
    if (frame.type !== "signal") return;
    if (frame.from === this.socket.state.account) return; // another tab of mine
    const action = String(frame.action);
    const callId = typeof frame.call_id === "string" ? frame.call_id : null;
    if (action === "invite") {
      if (this.active) return; // busy: the server refuses a second live call anyway
      this.reset();
      this.caller = false;
      this.state.callId = callId;
      this.state.media = frame.media === "audio" ? "audio" : "video";
      this.state.phase = "incoming";
      return;
    }
    if (!callId || callId !== this.state.callId) return;
    const run = (p: Promise<void>) => p.catch((err: unknown) => this.fail(err));
    switch (action) {
      case "accept":
        if (this.caller) run(this.makeOffer());
        break;
      case "offer":
        run(this.onOffer(frame.data as RTCSessionDescriptionInit));
        break;
      case "answer":
        if (this.pc) run(this.pc.setRemoteDescription(frame.data as RTCSessionDescriptionInit).then(() => this.flushIce()));
        break;
      case "ice": {
        const candidate = frame.data as RTCIceCandidateInit | null;
        if (!candidate) break;
        if (this.pc?.remoteDescription) run(this.pc.addIceCandidate(candidate).catch(() => undefined));
        else this.pendingIce.push(candidate);
        break;
      }
      case "decline":
      case "hangup":
        this.end(typeof frame.outcome === "string" ? frame.outcome : action === "decline" ? "declined" : "completed");
        break;
      default:
        break;
    }
  }

  private end(outcome: string): void {
    this.state.outcome = outcome;
    this.state.phase = "ended";
    this.cleanup();
  }

  private fail(err: unknown): void {
    if (this.state.callId && this.active) this.socket.signal(this.roomId, "hangup", { call_id: this.state.callId });
    this.state.error = err instanceof Error ? err.message : String(err);
    this.state.phase = "failed";
    this.cleanup();
  }

  private cleanup(): void {
    if (this.pc) {
      this.pc.onicecandidate = null;
      this.pc.ontrack = null;
      this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pc = null;
    }
    for (const track of this.localStream.value?.getTracks() ?? []) track.stop();
    this.localStream.value = null;
    this.remoteStream.value = null;
  }
}
