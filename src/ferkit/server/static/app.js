// ferkit's browser page: webcam frames over the WebSocket /v1/stream, photos via POST /v1/analyze.
"use strict";

const COLORS = {
  happy: "#f5b700", surprise: "#a855f7", neutral: "#9ca3af", sad: "#3b82f6",
  angry: "#e4572e", fear: "#14b8a6", disgust: "#65a30d", contempt: "#db2777",
};
const FRAME_MAX_SIDE = 640;  // frames are shrunk to this before sending: faster, and enough
const JPEG_QUALITY = 0.8;

const $ = (id) => document.getElementById(id);
const colorOf = (label) => COLORS[label] || "#22c55e";

// -- settings ---------------------------------------------------------------------------------
const SETTINGS = ["label-set", "detector", "api-key"];

function options() {
  return {labelSet: $("label-set").value, detector: $("detector").value,
          apiKey: $("api-key").value.trim()};
}

function query(extra = {}) {
  const {labelSet, detector} = options();
  return new URLSearchParams({label_set: labelSet, detector, ...extra}).toString();
}

// Kept for this tab only (sessionStorage), so the API key is forgotten when the tab closes.
for (const id of SETTINGS) {
  const saved = sessionStorage.getItem("ferkit." + id);
  if (saved !== null) $(id).value = saved;
  $(id).addEventListener("change", () => {
    sessionStorage.setItem("ferkit." + id, $(id).value);
    if (live.running) connect();
    if (photo.file) analyzePhoto();
  });
}

function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

// Asks a keyed route whether the API key is the problem, to explain a failed request.
async function keyProblem() {
  const {apiKey} = options();
  try {
    // Any keyed route will do: without the right key it answers 401, with it 404 (no such job).
    const response = await fetch("/v1/videos/key-check",
                                 {headers: apiKey ? {"X-API-Key": apiKey} : {}});
    if (response.status === 401) {
      return apiKey ? "The API key is wrong: check the API key field."
                    : "This server needs an API key: enter it in the API key field.";
    }
    return null;
  } catch (err) {
    return "The ferkit server does not answer: is `ferkit serve` still running?";
  }
}

// -- drawing ----------------------------------------------------------------------------------
function drawFaces(ctx, faces, scale) {
  const {width, height} = ctx.canvas;
  const line = Math.max(2, Math.round(Math.max(width, height) / 250));
  const font = Math.max(14, Math.round(Math.max(width, height) / 32));
  ctx.lineWidth = line;
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  faces.forEach((face, i) => {
    const [x1, y1, x2, y2] = face.box_xyxy.map((v) => v * scale);
    const color = colorOf(face.label);
    ctx.strokeStyle = color;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const p = face.scores ? face.scores[face.label] : 0;
    const text = `${i + 1} ${face.label} ${Math.round(p * 100)}%`;
    const w = ctx.measureText(text).width + font * 0.6;
    const h = font * 1.35;
    const top = y1 - h >= 0 ? y1 - h : y2;  // above the box, or below it at the top edge
    ctx.fillStyle = color;
    ctx.fillRect(x1 - line / 2, top, w, h);
    ctx.fillStyle = "#111";
    ctx.fillText(text, x1 - line / 2 + font * 0.3, top + font * 0.18);
  });
}

// One list item per face: its label and a probability bar per emotion. Tests read these.
function listFaces(list, faces) {
  list.replaceChildren(...faces.map((face, i) => {
    const item = document.createElement("li");
    item.className = "face";
    item.dataset.label = face.label;
    const title = document.createElement("div");
    title.className = "face-title";
    title.innerHTML = `<span class="index">${i + 1}</span> <span class="label"></span>`;
    title.querySelector(".label").textContent = face.label;
    item.append(title);
    for (const [name, p] of Object.entries(face.scores || {})) {
      const row = document.createElement("div");
      row.className = "bar-row";
      row.innerHTML = '<span class="name"></span><span class="bar"><span class="fill"></span>' +
                      '</span><span class="pct"></span>';
      row.querySelector(".name").textContent = name;
      const fill = row.querySelector(".fill");
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      fill.style.background = colorOf(name);
      row.querySelector(".pct").textContent = `${Math.round(p * 100)}%`;
      item.append(row);
    }
    return item;
  }));
  if (!faces.length) {
    const none = document.createElement("li");
    none.className = "no-face";
    none.textContent = "no face found";
    list.replaceChildren(none);
  }
}

// -- webcam -----------------------------------------------------------------------------------
const live = {running: false, stream: null, ws: null, waiting: false, answers: 0,
              sentAt: 0, times: [], last: null};
const grab = document.createElement("canvas");

function cameraMessage(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was denied. Allow the camera for this page (the camera icon in " +
             "the address bar, or the site settings), then press Start camera again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera found. Connect a camera and press Start camera again, or analyse " +
             "a photo below.";
    case "NotReadableError":
    case "AbortError":
      return "The camera could not be started: another program may be using it.";
    default:
      return `The camera could not be started (${err && err.name}: ${err && err.message}).`;
  }
}

async function startCamera() {
  showError($("live-error"), "");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError($("live-error"), "This browser offers no camera to this page: browsers only " +
              "allow cameras on https:// pages or on http://localhost.");
    return;
  }
  $("camera-start").disabled = true;
  try {
    live.stream = await navigator.mediaDevices.getUserMedia(
      {video: {width: {ideal: 640}, height: {ideal: 480}}, audio: false});
  } catch (err) {
    $("camera-start").disabled = false;
    showError($("live-error"), cameraMessage(err));
    return;
  }
  const video = $("video");
  video.srcObject = live.stream;
  await video.play().catch(() => {});
  live.running = true;
  $("camera-stop").disabled = false;
  document.body.classList.add("camera-on");
  connect();
}

function stopCamera() {
  live.running = false;
  closeSocket();
  if (live.stream) live.stream.getTracks().forEach((track) => track.stop());
  live.stream = null;
  $("video").srcObject = null;
  const overlay = $("overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  $("camera-start").disabled = false;
  $("camera-stop").disabled = true;
  $("live-status").textContent = "camera off";
  document.body.classList.remove("camera-on");
}

function closeSocket() {
  const ws = live.ws;
  live.ws = null;  // set first: onclose then knows this close was ours
  live.waiting = false;
  if (ws) ws.close();
}

// Browsers cannot set headers on a WebSocket: the key goes as a subprotocol, hex-encoded to
// fit the header's syntax, rather than in the URL, which servers write to their access logs.
function keyProtocols() {
  const {apiKey} = options();
  if (!apiKey) return [];
  const hex = Array.from(new TextEncoder().encode(apiKey),
                         (byte) => byte.toString(16).padStart(2, "0")).join("");
  return ["ferkit", `ferkit.key.${hex}`];
}

function connect() {
  closeSocket();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/v1/stream?${query()}`, keyProtocols());
  let opened = false;
  live.ws = ws;
  $("live-status").textContent = "connecting…";
  ws.onopen = () => {
    opened = true;
    showError($("live-error"), "");
    $("live-status").textContent = "connected";
    sendFrame();
  };
  ws.onmessage = (event) => {
    if (live.ws !== ws) return;
    live.waiting = false;
    onAnswer(JSON.parse(event.data));
    sendFrame();
  };
  ws.onclose = async (event) => {
    if (live.ws !== ws || !live.running) return;  // closed on purpose
    live.ws = null;
    if (!opened || event.code === 1008) {
      // Refused: a wrong key, a bad option, or no server. Do not retry until something changes.
      const reason = event.reason || await keyProblem() || "The stream connection was refused.";
      showError($("live-error"), reason);
      $("live-status").textContent = "not connected";
      return;
    }
    $("live-status").textContent = "connection lost; reconnecting…";
    setTimeout(() => { if (live.running && !live.ws) connect(); }, 1000);
  };
}

// One frame in flight at a time: the next is grabbed only when the answer to this one arrives,
// so a slow server lowers the frame rate instead of piling frames up.
function sendFrame() {
  const ws = live.ws;
  const video = $("video");
  if (!live.running || !ws || ws.readyState !== WebSocket.OPEN || live.waiting) return;
  if (!video.videoWidth) {
    setTimeout(sendFrame, 50);  // the first frame is not decoded yet
    return;
  }
  const scale = Math.min(1, FRAME_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  live.waiting = true;
  grab.toBlob((blob) => {
    if (live.ws === ws && ws.readyState === WebSocket.OPEN && blob) {
      live.sentAt = performance.now();
      ws.send(blob);
    } else {
      live.waiting = false;
    }
  }, "image/jpeg", JPEG_QUALITY);
}

function onAnswer(answer) {
  const video = $("video");
  const overlay = $("overlay");
  if (answer.error) {
    $("live-status").textContent = `frame ${answer.frame}: ${answer.error}`;
    return;
  }
  const now = performance.now();
  live.times.push(now);
  while (live.times.length > 10) live.times.shift();
  live.answers += 1;
  live.last = answer;
  overlay.width = video.videoWidth;
  overlay.height = video.videoHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, answer.faces, video.videoWidth / answer.width);
  listFaces($("live-faces"), answer.faces);
  const span = (live.times[live.times.length - 1] - live.times[0]) / 1000;
  const fps = live.times.length > 1 && span > 0 ? (live.times.length - 1) / span : 0;
  const n = answer.faces.length;
  $("live-status").textContent = `${n} face${n === 1 ? "" : "s"} · ${fps.toFixed(1)} frames/s` +
    ` · ${Math.round(now - live.sentAt)} ms per frame`;
  document.body.dataset.liveFrames = String(live.answers);
}

$("camera-start").addEventListener("click", startCamera);
$("camera-stop").addEventListener("click", stopCamera);

// -- photo ------------------------------------------------------------------------------------
const photo = {file: null, last: null};

$("photo-file").addEventListener("change", () => {
  photo.file = $("photo-file").files[0] || null;
  if (photo.file) analyzePhoto();
});

async function analyzePhoto() {
  const file = photo.file;
  const error = $("photo-error");
  showError(error, "");
  $("photo-status").textContent = "analysing…";
  const body = new FormData();
  body.append("file", file);
  let response, answer;
  try {
    response = await fetch(`/v1/analyze?${query()}`, {method: "POST", body, headers: keyHeaders()});
    answer = await response.json();
  } catch (err) {
    $("photo-status").textContent = "";
    showError(error, await keyProblem() || `The request failed: ${err.message}`);
    return;
  }
  if (file !== photo.file) return;  // another photo was chosen meanwhile
  if (!response.ok) {
    $("photo-status").textContent = "";
    showError(error, answer.error || `The server answered ${response.status}.`);
    return;
  }
  const image = new Image();
  const url = URL.createObjectURL(file);
  try {
    image.src = url;
    await image.decode();
  } catch (err) {
    showError(error, "The server read this photo, but this browser cannot show it.");
  } finally {
    URL.revokeObjectURL(url);
  }
  // The answer's width and height are the photo after its EXIF rotation, as browsers draw it.
  const canvas = $("photo-canvas");
  canvas.width = answer.width;
  canvas.height = answer.height;
  const ctx = canvas.getContext("2d");
  if (image.complete && image.naturalWidth) ctx.drawImage(image, 0, 0, answer.width, answer.height);
  drawFaces(ctx, answer.faces, 1);
  listFaces($("photo-faces"), answer.faces);
  photo.last = answer;
  const n = answer.faces.length;
  $("photo-status").textContent = `${n} face${n === 1 ? "" : "s"} · ${answer.width}x${answer.height}`;
  document.body.dataset.photoDone = "1";
}

// -- video file -------------------------------------------------------------------------------
// Uploaded to POST /v1/videos, then polled at GET /v1/videos/{id} until done or failed.
const videoJob = {id: null, name: null};

function keyHeaders() {
  const {apiKey} = options();
  return apiKey ? {"X-API-Key": apiKey} : {};
}

$("video-file").addEventListener("change", async () => {
  const file = $("video-file").files[0];
  if (!file) return;
  const error = $("video-error");
  showError(error, "");
  $("video-csv").hidden = true;
  $("video-report").hidden = true;
  $("video-tracks").replaceChildren();
  $("video-status").textContent = "uploading…";
  const every = Math.max(1, parseInt($("video-every").value, 10) || 1);
  const body = new FormData();
  body.append("file", file);
  let response, answer;
  try {
    response = await fetch(`/v1/videos?${query({every})}`,
                           {method: "POST", body, headers: keyHeaders()});
    answer = await response.json();
  } catch (err) {
    $("video-status").textContent = "";
    showError(error, await keyProblem() || `The upload failed: ${err.message}`);
    return;
  }
  if (!response.ok) {
    $("video-status").textContent = "";
    showError(error, answer.error || `The server answered ${response.status}.`);
    return;
  }
  videoJob.id = answer.id;
  videoJob.name = file.name.replace(/\.[^.]*$/, "");
  pollVideo(answer.id);
});

async function pollVideo(id) {
  if (id !== videoJob.id) return;  // a newer upload replaced this job
  let job;
  try {
    const response = await fetch(`/v1/videos/${id}`, {headers: keyHeaders()});
    job = await response.json();
    if (!response.ok) throw new Error(job.error || `HTTP ${response.status}`);
  } catch (err) {
    showError($("video-error"), `Lost track of the video job: ${err.message}`);
    return;
  }
  const bar = $("video-progress");
  bar.hidden = job.status === "failed";
  if (job.progress === null) bar.removeAttribute("value"); else bar.value = job.progress;
  if (job.status === "queued" || job.status === "running") {
    const total = job.frames_total ? ` of ${job.frames_total}` : "";
    $("video-status").textContent = `${job.status}: ${job.frames_done}${total} frames`;
    setTimeout(() => pollVideo(id), 500);
  } else if (job.status === "failed") {
    $("video-status").textContent = "";
    showError($("video-error"), job.error);
  } else {
    $("video-status").textContent =
      `done: ${job.frames_done} frames, ${job.faces} faces in ${job.tracks} ` +
      `track${job.tracks === 1 ? "" : "s"}`;
    listTracks(job.rows);
    $("video-csv").hidden = false;
    $("video-report").hidden = false;
  }
}

// One line per tracked face: its most frequent label and in how many frames it was seen.
function listTracks(rows) {
  const tracks = new Map();
  for (const row of rows) {
    const track = tracks.get(row.track_id) || {frames: 0, labels: {}};
    track.frames += 1;
    track.labels[row.label] = (track.labels[row.label] || 0) + 1;
    tracks.set(row.track_id, track);
  }
  $("video-tracks").replaceChildren(...[...tracks].map(([id, track]) => {
    const [label, count] = Object.entries(track.labels).sort((a, b) => b[1] - a[1])[0];
    const item = document.createElement("li");
    item.className = "track";
    item.dataset.label = label;
    item.textContent = `Face ${id}: ${label} in ${count} of its ${track.frames} frames`;
    return item;
  }));
}

// A plain link cannot send the API key header, so fetch the file and save it from memory.
async function saveFromJob(path, filename) {
  const response = await fetch(`/v1/videos/${videoJob.id}${path}`, {headers: keyHeaders()});
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    showError($("video-error"), answer.error || `The server answered ${response.status}.`);
    return;
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

$("video-csv").addEventListener("click",
  () => saveFromJob("?format=csv", `${videoJob.name || "video"}.csv`));
// The job's report: one HTML page with each face's timeline and episodes, exports inside.
$("video-report").addEventListener("click",
  () => saveFromJob("/report.html", `${videoJob.name || "video"}.report.html`));

$("live-status").textContent = "camera off";
