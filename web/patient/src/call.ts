/**
 * A 1:1 WebRTC call inside a consultation room, the patient side: the doctor invites, the patient
 * answers (camera/microphone, then `accept`), the doctor's offer is answered, ICE candidates are
 * exchanged over the chat socket; media flows peer to peer (or through TURN), never through IHIS.
 */
import { onBeforeUnmount, ref, shallowRef, type Ref } from "vue";
import { chatSocket, type Frame } from "./chatSocket";

export type CallPhase = "idle" | "incoming" | "starting" | "active" | "ended";

type Sdp = { type: RTCSdpType; sdp: string };

function asSdp(data: unknown, fallback: RTCSdpType): Sdp | null {
  if (typeof data === "string") return { type: fallback, sdp: data };
  if (data && typeof data === "object" && typeof (data as Sdp).sdp === "string") {
    const d = data as Partial<Sdp>;
    return { type: (d.type as RTCSdpType) ?? fallback, sdp: d.sdp as string };
  }
  return null;
}

export function useCall(roomId: Ref<number | null>) {
  const phase = ref<CallPhase>("idle");
  /** RTCPeerConnection.connectionState once a connection exists, else the phase. */
  const connection = ref<string>("idle");
  const media = ref<"audio" | "video">("video");
  const callId = ref<string | null>(null);
  const outcome = ref<string | null>(null);
  const error = ref("");
  const localStream = shallowRef<MediaStream | null>(null);
  const remoteStream = shallowRef<MediaStream | null>(null);
  let pc: RTCPeerConnection | null = null;
  let earlyOffer: Sdp | null = null;
  let earlyCandidates: RTCIceCandidateInit[] = [];

  function signal(action: string, extra: Record<string, unknown> = {}): void {
    const room = roomId.value;
    if (!room || !callId.value) return;
    chatSocket.raw({ type: "signal", room, action, call_id: callId.value, ref: `s${room}-${action}`, ...extra });
  }

  function cleanup(): void {
    pc?.close();
    pc = null;
    localStream.value?.getTracks().forEach((t) => t.stop());
    localStream.value = null;
    remoteStream.value = null;
    earlyOffer = null;
    earlyCandidates = [];
  }

  function finish(result: string | null): void {
    cleanup();
    outcome.value = result;
    phase.value = "ended";
    connection.value = "ended";
  }

  async function applyOffer(offer: Sdp): Promise<void> {
    if (!pc) {
      earlyOffer = offer;
      return;
    }
    await pc.setRemoteDescription(offer);
    for (const c of earlyCandidates) await pc.addIceCandidate(c).catch(() => undefined);
    earlyCandidates = [];
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    signal("answer", { data: { type: answer.type, sdp: answer.sdp } });
  }

  async function addCandidate(candidate: RTCIceCandidateInit | null): Promise<void> {
    if (!candidate) return;
    if (!pc || !pc.remoteDescription) {
      earlyCandidates.push(candidate);
      return;
    }
    await pc.addIceCandidate(candidate).catch(() => undefined);
  }

  /** Frames of type `signal` (relayed from the doctor) and `call` (the server's confirmation). */
  function onSignal(frame: Frame): void {
    const action = frame.action;
    if (frame.type === "error") {
      // the server refused a signalling step (the call ended meanwhile, or the room closed)
      if (phase.value === "idle" || phase.value === "ended") return; // e.g. both hung up at once
      error.value = typeof frame.detail === "string" ? frame.detail : String(frame.code ?? "error");
      finish(null);
      return;
    }
    if (frame.type === "call") {
      if (frame.status === "ended" && phase.value !== "ended") finish(typeof frame.outcome === "string" ? frame.outcome : null);
      return;
    }
    if (action === "invite") {
      if (phase.value === "starting" || phase.value === "active") return;
      callId.value = typeof frame.call_id === "string" ? frame.call_id : null;
      media.value = frame.media === "audio" ? "audio" : "video";
      outcome.value = null;
      error.value = "";
      phase.value = "incoming";
      connection.value = "ringing";
      return;
    }
    if (frame.call_id !== callId.value) return;
    if (action === "offer") {
      const offer = asSdp(frame.data, "offer");
      if (offer) void applyOffer(offer).catch((err: unknown) => (error.value = String(err)));
    } else if (action === "ice") {
      void addCandidate((frame.data as RTCIceCandidateInit | null) ?? null);
    } else if (action === "hangup" || action === "decline") {
      finish(typeof frame.outcome === "string" ? frame.outcome : action);
    } else if (action === "accept" && phase.value === "incoming") {
      // picked up on another of the patient's devices
      finish("answered_elsewhere");
    }
  }

  async function answer(): Promise<void> {
    if (phase.value !== "incoming") return;
    phase.value = "starting";
    connection.value = "starting";
    error.value = "";
    try {
      localStream.value = await navigator.mediaDevices.getUserMedia({ audio: true, video: media.value === "video" });
    } catch (err) {
      error.value = String(err);
      signal("decline", { reason: "media_unavailable" });
      finish("media_unavailable");
      return;
    }
    const iceServers = chatSocket.iceServers.map((s) => ({
      urls: s.urls,
      ...(s.username ? { username: s.username } : {}),
      ...(s.credential ? { credential: s.credential } : {}),
    }));
    const peer = new RTCPeerConnection({ iceServers });
    pc = peer;
    const remote = new MediaStream();
    remoteStream.value = remote;
    for (const track of localStream.value.getTracks()) peer.addTrack(track, localStream.value);
    peer.ontrack = (event) => {
      for (const track of event.streams[0]?.getTracks() ?? [event.track]) {
        if (!remote.getTracks().includes(track)) remote.addTrack(track);
      }
      remoteStream.value = null;
      remoteStream.value = remote;
    };
    peer.onicecandidate = (event) => {
      signal("ice", { data: event.candidate ? event.candidate.toJSON() : null });
    };
    peer.onconnectionstatechange = () => {
      if (pc !== peer) return;
      connection.value = peer.connectionState;
      if (peer.connectionState === "connected") phase.value = "active";
    };
    signal("accept");
    if (earlyOffer) {
      const offer = earlyOffer;
      earlyOffer = null;
      await applyOffer(offer).catch((err: unknown) => (error.value = String(err)));
    }
  }

  function decline(): void {
    signal("decline");
    finish("declined");
  }

  function hangup(): void {
    signal("hangup");
    finish("completed");
  }

  onBeforeUnmount(() => {
    if (phase.value === "starting" || phase.value === "active") signal("hangup");
    else if (phase.value === "incoming") signal("decline");
    cleanup();
  });

  return { phase, connection, media, callId, outcome, error, localStream, remoteStream, onSignal, answer, decline, hangup };
}
