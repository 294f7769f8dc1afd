// Online verification: record a short video with the camera and upload it.
// The type is one the browser can record (WebM on Chrome/Firefox, MP4 on
// Safari/iPhone); the recording stops by itself at the page's maximum
// length and is played back before it is sent ("Recommencer" / "Envoyer").
// The plain file form stays as the fallback. Texts come from the page.
(function () {
  const box = document.getElementById("recorder");
  if (!box || !window.MediaRecorder || !navigator.mediaDevices) return;
  const TYPES = [
    "video/webm;codecs=vp9,opus",
    "video/webm;codecs=vp8,opus",
    "video/webm",
    "video/mp4;codecs=avc1.42E01E,mp4a.40.2",
    "video/mp4",
  ];
  const supported = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
  box.hidden = false;
  const $ = (id) => document.getElementById(id);
  const [preview, playback, timer, elapsed, status] = ["preview", "playback", "timer", "elapsed", "status"].map($);
  const [start, stop, send, restart] = ["start", "stop", "send", "restart"].map($);
  const text = box.dataset;
  const max = Number(text.maxSeconds) || 30;
  let recorder, stream, clock, blob, seconds = 0;

  const clockText = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  const show = (...shown) => {
    for (const b of [start, stop, send, restart]) b.hidden = !shown.includes(b);
  };
  const release = () => {
    clearInterval(clock);
    stream && stream.getTracks().forEach((t) => t.stop());
    stream = null;
  };

  async function record() {
    show(); // no button while the camera starts
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: true });
    } catch (e) {
      status.textContent = text.noCamera;
      show(start);
      return;
    }
    preview.hidden = false;
    playback.hidden = true;
    preview.srcObject = stream;
    await preview.play().catch(() => {});
    const options = { videoBitsPerSecond: 1_500_000 };
    if (supported) options.mimeType = supported;
    recorder = new MediaRecorder(stream, options);
    const chunks = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      release();
      blob = new Blob(chunks, { type: (recorder.mimeType || supported || "video/webm").split(";")[0] });
      preview.srcObject = null;
      preview.hidden = true;
      playback.src = URL.createObjectURL(blob);
      playback.hidden = false;
      show(send, restart);
      status.textContent = (seconds >= max ? text.stopped + " " : "") + text.review;
    };
    seconds = 0;
    elapsed.textContent = clockText(0);
    timer.hidden = false;
    clock = setInterval(() => {
      seconds += 1;
      elapsed.textContent = clockText(Math.min(seconds, max));
      if (seconds >= max && recorder.state === "recording") recorder.stop();
    }, 1000);
    recorder.start(1000);
    show(stop);
    stop.disabled = false;
    status.textContent = text.recording;
  }

  async function upload() {
    send.disabled = true;
    restart.disabled = true;
    status.textContent = text.sending;
    const type = blob.type || "video/webm";
    const name = type === "video/mp4" ? "video.mp4" : "video.webm";
    const form = new FormData();
    form.append("csrf", text.csrf);
    form.append("video", blob, name);
    try {
      const response = await fetch("/inscription/en-ligne/video", { method: "POST", body: form });
      if (response.redirected && response.ok) {
        window.location = response.url;
        return;
      }
    } catch (e) {
      // The message below says to try again.
    }
    status.textContent = text.failed;
    send.disabled = false;
    restart.disabled = false;
  }

  start.addEventListener("click", record);
  restart.addEventListener("click", () => {
    if (playback.src) URL.revokeObjectURL(playback.src);
    playback.removeAttribute("src");
    blob = null;
    record();
  });
  stop.addEventListener("click", () => {
    stop.disabled = true;
    recorder && recorder.state === "recording" && recorder.stop();
  });
  send.addEventListener("click", upload);
})();
