// Online verification: record a short video with the camera (MediaRecorder,
// WebM) and upload it. The plain file form stays as the fallback.
(function () {
  const box = document.getElementById("recorder");
  if (!box || !window.MediaRecorder || !navigator.mediaDevices) return;
  box.hidden = false;
  const preview = document.getElementById("preview");
  const start = document.getElementById("start");
  const stop = document.getElementById("stop");
  const status = document.getElementById("status");
  let recorder, chunks = [];
  start.addEventListener("click", async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      preview.srcObject = stream;
      await preview.play();
      recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
      chunks = [];
      recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
      recorder.onstop = async () => {
        stream.getTracks().forEach((t) => t.stop());
        status.textContent = "Envoi de la vidéo…";
        const form = new FormData();
        form.append("csrf", box.dataset.csrf);
        form.append("video", new Blob(chunks, { type: "video/webm" }), "video.webm");
        const response = await fetch("/inscription/en-ligne/video", { method: "POST", body: form });
        if (response.redirected) { window.location = response.url; return; }
        status.textContent = response.ok ? "Vidéo envoyée." : "L'envoi a échoué, réessayez.";
      };
      recorder.start();
      start.disabled = true;
      stop.disabled = false;
      status.textContent = "Enregistrement en cours : dites les trois chiffres.";
    } catch (e) {
      status.textContent = "La caméra n'est pas disponible : utilisez le formulaire ci-dessous.";
    }
  });
  stop.addEventListener("click", () => {
    stop.disabled = true;
    recorder && recorder.stop();
  });
})();
