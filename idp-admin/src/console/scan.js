// Counter page: scan the citizen's QR code ("SESAME:<reference>") with the
// camera when the browser offers BarcodeDetector; typing always works.
(function () {
  const button = document.getElementById("scan");
  const video = document.getElementById("camera");
  const field = document.getElementById("reference");
  if (!button || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const tick = async () => {
      const codes = await detector.detect(video).catch(() => []);
      const found = codes.map((c) => c.rawValue).find((v) => v.startsWith("SESAME:"));
      if (found) {
        stream.getTracks().forEach((t) => t.stop());
        field.value = found.slice(7);
        document.getElementById("lookup").submit();
      } else {
        requestAnimationFrame(tick);
      }
    };
    tick();
  });
})();
