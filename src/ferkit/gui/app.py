"""The Tk window: a large view with every face, a side panel with probability bars and controls."""

from __future__ import annotations

import os
import queue
import sys
import time
import tkinter as tk
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from tkinter import filedialog, ttk

import cv2
from PIL import Image, ImageTk

from ferkit.annotate import COLOURS
from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.gui.collect import save_face_crops
from ferkit.gui.record import Recorder, save_snapshot, timestamped
from ferkit.gui.state import (
    GUI_DETECTORS,
    FpsMeter,
    FrameProcessor,
    Result,
    Settings,
    ViewTransform,
    face_at,
    probability_bars,
    selected_face,
)
from ferkit.gui.worker import Worker
from ferkit.imageio import IMAGE_SUFFIXES
from ferkit.labels import EMOTIONS, LABEL_SETS

_VIDEO_TYPES = [("Videos", "*.mp4 *.avi *.mov *.mkv *.webm *.m4v"), ("All files", "*")]
_IMAGE_TYPES = [("Images", " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))),
                ("All files", "*")]
_TEXT_WIDGETS = (tk.Entry, tk.Spinbox, ttk.Entry, ttk.Spinbox, ttk.Combobox)
PANEL_W = 300
BAR_ROW_H = 24
#: The detector list's entry for Settings.detector None: photos and streams their defaults.
AUTO_DETECTOR = "auto (per source)"


def _detector_spec(choice: str) -> str | None:
    return None if choice == AUTO_DETECTOR else choice


def _hex(bgr: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*bgr[::-1])


class FerkitApp:
    """The app in a Tk `root`; inference and capture run on a `Worker` thread.

    The Tk thread only polls the worker's queues (every `poll_ms`), scales the newest
    annotated frame into the view and redraws the side panel, so it never blocks on a camera
    or on the model. `faces()`, `selected()`, `bars()` and `status()` report what the window
    shows (for scripts and tests).
    """

    def __init__(self, root: tk.Tk, processor: FrameProcessor, *,
                 settings: Settings | None = None, source: str | int | None = None,
                 output_dir: str | Path = "ferkit-gui", collect_dir: str | Path | None = None,
                 poll_ms: int = 20):
        self.root = root
        self.settings = settings or Settings()
        self.output_dir = Path(output_dir)
        self.worker = Worker(processor, self.settings)
        self.result: Result | None = None
        self.selected_track: int | None = None
        self.transform: ViewTransform | None = None
        self.collected = 0
        self._poll_ms = poll_ms
        self._photo: ImageTk.PhotoImage | None = None
        self._display_fps = FpsMeter()
        self._dragging = False
        self._closed = False
        self._status = ""
        self._build(Path(collect_dir) if collect_dir else self.output_dir / "collected")
        self.worker.start()
        root.protocol("WM_DELETE_WINDOW", self.close)
        if source is not None:
            self.open_source(source)
        else:
            self.set_status("Open an image, a video or a camera (side panel) to start.")
        self._after = root.after(self._poll_ms, self._poll)

    # -- layout ----------------------------------------------------------------------------
    def _build(self, collect_dir: Path) -> None:
        root = self.root
        root.title("ferkit")
        root.geometry("1280x780")
        root.minsize(800, 520)
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)

        view = ttk.Frame(root)
        view.grid(row=0, column=0, sticky="nsew")
        view.columnconfigure(0, weight=1)
        view.rowconfigure(0, weight=1)
        self.canvas = tk.Canvas(view, background="#202020", highlightthickness=0,
                                width=960, height=700)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self._image_item = self.canvas.create_image(0, 0, anchor="nw")
        self._hint_item = self.canvas.create_text(10, 10, anchor="nw", fill="#bbbbbb",
                                                  font=("TkDefaultFont", 14), text="")
        self._select_item = self.canvas.create_rectangle(0, 0, 0, 0, outline="#00e5ff",
                                                         width=3, dash=(6, 3), state="hidden")
        self.canvas.bind("<Button-1>", self._on_click)
        self.canvas.bind("<Configure>", lambda _e: self._render())

        transport = ttk.Frame(view, padding=(6, 4))
        transport.grid(row=1, column=0, sticky="ew")
        transport.columnconfigure(1, weight=1)
        self.play_button = ttk.Button(transport, text="Pause", width=7, command=self.toggle_play)
        self.play_button.grid(row=0, column=0)
        self.seek_var = tk.DoubleVar(value=0)
        self.seek_scale = ttk.Scale(transport, from_=0, to=1, variable=self.seek_var,
                                    orient="horizontal")
        self.seek_scale.grid(row=0, column=1, sticky="ew", padx=6)
        self.seek_scale.bind("<ButtonPress-1>", self._on_seek_press)
        self.seek_scale.bind("<ButtonRelease-1>", self._on_seek_release)
        self.position_label = ttk.Label(transport, text="", width=22, anchor="e")
        self.position_label.grid(row=0, column=2)

        panel = ttk.Frame(root, padding=6, width=PANEL_W)
        panel.grid(row=0, column=1, sticky="ns")
        panel.columnconfigure(0, weight=1)

        src = ttk.LabelFrame(panel, text="Source", padding=4)
        src.grid(row=0, column=0, sticky="ew")
        ttk.Button(src, text="Open image…", command=self._ask_image).grid(row=0, column=0,
                                                                          sticky="ew")
        ttk.Button(src, text="Open video…", command=self._ask_video).grid(row=0, column=1,
                                                                          sticky="ew")
        self.camera_var = tk.StringVar(value="0")
        ttk.Label(src, text="Camera").grid(row=1, column=0, sticky="w")
        cam = ttk.Frame(src)
        cam.grid(row=1, column=1, sticky="ew")
        ttk.Spinbox(cam, from_=0, to=16, width=3, textvariable=self.camera_var).pack(side="left")
        ttk.Button(cam, text="Start", width=6,
                   command=lambda: self.open_source(self.camera_var.get().strip() or "0")
                   ).pack(side="left", padx=(4, 0))

        rec = ttk.LabelFrame(panel, text="Recognition", padding=4)
        rec.grid(row=1, column=0, sticky="ew", pady=(6, 0))
        rec.columnconfigure(1, weight=1)
        self.label_set_var = tk.StringVar(value=self.settings.label_set)
        self.detector_var = tk.StringVar(value=self.settings.detector or AUTO_DETECTOR)
        self.smoothing_var = tk.BooleanVar(value=self.settings.smoothing)
        ttk.Label(rec, text="Label set").grid(row=0, column=0, sticky="w")
        box = self.label_set_box = ttk.Combobox(rec, textvariable=self.label_set_var,
                                                values=list(LABEL_SETS), state="readonly",
                                                width=12)
        box.grid(row=0, column=1, sticky="ew")
        box.bind("<<ComboboxSelected>>", lambda _e: self._settings_changed())
        ttk.Label(rec, text="Detector").grid(row=1, column=0, sticky="w")
        choices = [spec or AUTO_DETECTOR
                   for spec in dict.fromkeys([*GUI_DETECTORS, self.settings.detector])]
        box = self.detector_box = ttk.Combobox(rec, textvariable=self.detector_var,
                                               values=choices, state="readonly", width=18)
        box.grid(row=1, column=1, sticky="ew")
        box.bind("<<ComboboxSelected>>", lambda _e: self._settings_changed())
        ttk.Checkbutton(rec, text="Smooth over frames", variable=self.smoothing_var,
                        command=self._settings_changed).grid(row=2, column=0, columnspan=2,
                                                             sticky="w")
        self.fps_label = ttk.Label(rec, text="– fps")
        self.fps_label.grid(row=3, column=0, columnspan=2, sticky="w")

        sel = ttk.LabelFrame(panel, text="Selected face (click one)", padding=4)
        sel.grid(row=2, column=0, sticky="ew", pady=(6, 0))
        self.face_label = ttk.Label(sel, text="no face")
        self.face_label.pack(anchor="w")
        self.bars_canvas = tk.Canvas(sel, width=PANEL_W - 24, height=BAR_ROW_H * len(EMOTIONS),
                                     background="#ffffff", highlightthickness=0)
        self.bars_canvas.pack(fill="x")

        out = ttk.LabelFrame(panel, text="Save", padding=4)
        out.grid(row=3, column=0, sticky="ew", pady=(6, 0))
        ttk.Button(out, text="Snapshot (s)", command=self.snapshot).grid(row=0, column=0,
                                                                         sticky="ew")
        self.record_button = ttk.Button(out, text="Record (r)", command=self.toggle_record)
        self.record_button.grid(row=0, column=1, sticky="ew")

        col = ttk.LabelFrame(panel, text="Collect faces for training", padding=4)
        col.grid(row=4, column=0, sticky="ew", pady=(6, 0))
        col.columnconfigure(1, weight=1)
        self.emotion_var = tk.StringVar(value=EMOTIONS[0])
        ttk.Label(col, text="Emotion").grid(row=0, column=0, sticky="w")
        ttk.Combobox(col, textvariable=self.emotion_var, values=list(EMOTIONS),
                     state="readonly", width=12).grid(row=0, column=1, sticky="ew")
        self.collect_var = tk.StringVar(value=str(collect_dir))
        ttk.Label(col, text="Folder").grid(row=1, column=0, sticky="w")
        ttk.Entry(col, textvariable=self.collect_var, width=18).grid(row=1, column=1,
                                                                     sticky="ew")
        ttk.Button(col, text="…", width=2, command=self._ask_collect_dir).grid(row=1, column=2)
        ttk.Button(col, text="Save face crops (c)", command=self.collect).grid(
            row=2, column=0, columnspan=3, sticky="ew")
        ttk.Label(col, text="keys 1–8 pick the emotion", foreground="#666666").grid(
            row=3, column=0, columnspan=3, sticky="w")

        self.status_label = tk.Label(panel, text="", wraplength=PANEL_W - 16, justify="left",
                                     anchor="w")
        self.status_label.grid(row=5, column=0, sticky="ew", pady=(8, 0))
        root.bind("<KeyPress>", self._on_key)
        root.bind("<Control-q>", lambda _e: self.close())

    # -- what the window shows (for scripts and tests) -------------------------------------
    def faces(self) -> list[Face]:
        return list(self.result.faces) if self.result is not None else []

    def selected(self) -> Face | None:
        return selected_face(self.faces(), self.selected_track)

    def bars(self) -> list[tuple[str, float]]:
        return probability_bars(self.selected(), self.settings.label_set)

    def status(self) -> str:
        return self._status

    def wait_until(self, condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
        """Run the Tk loop until `condition()` holds or `timeout_s` passes; returns it."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.root.update()
            if condition():
                return True
            time.sleep(0.01)
        return condition()

    # -- actions ---------------------------------------------------------------------------
    def set_status(self, text: str, error: bool = False) -> None:
        self._status = text
        self.status_label.configure(text=text, foreground="#c00000" if error else "#000000")

    def open_source(self, spec: str | int | Path) -> None:
        """Open a camera index or an image/video path; the result (or error) arrives later."""
        self.selected_track = None
        self.set_status(f"opening {spec} …")
        self.worker.open(str(spec))

    def toggle_play(self) -> None:
        result = self.result
        if self.worker.playing:
            self.worker.set_playing(False)
        else:
            if (result is not None and result.frame_count
                    and result.frame.index >= result.frame_count - 1):
                self.worker.seek(0)
            self.worker.set_playing(True)
        self._update_transport()

    def snapshot(self) -> Path | None:
        if self.result is None:
            self.set_status("nothing to save yet: open a source first", error=True)
            return None
        try:
            path = save_snapshot(self.output_dir, self.result.annotated_bgr)
        except FerkitError as exc:
            self.set_status(str(exc), error=True)
            return None
        self.set_status(f"snapshot saved: {path}")
        return path

    def toggle_record(self) -> Recorder | None:
        if self.worker.recording:
            self.record_button.configure(text="Record (r)")
            try:
                recorder = self.worker.stop_recording()
            except (FerkitError, OSError) as exc:  # e.g. its folder was removed meanwhile
                self.set_status(f"the recording could not be kept: {exc}", error=True)
                return None
            if recorder is not None:
                self.set_status(f"recorded {recorder.frames} frames: {recorder.video_path} "
                                f"and {recorder.csv_path}")
            return recorder
        source = self.worker.source
        if source is None:
            self.set_status("nothing to record: open a source first", error=True)
            return None
        # a file keeps its own rate (every frame is analysed); a camera's recording plays at
        # the rate frames were analysed, not the camera's, so it is not sped up
        measured = self.result.fps if self.result is not None else 0.0
        fps = source.fps if source.kind == "video" else (measured or 10.0)
        try:
            stem = timestamped(self.output_dir, "recording", ".mp4").with_suffix("")
            recorder = Recorder(stem, fps, self.settings.label_set)
        except FerkitError as exc:
            self.set_status(str(exc), error=True)
            return None
        self.worker.start_recording(recorder)
        self.record_button.configure(text="Stop recording (r)")
        self.set_status(f"recording to {recorder.video_path}")
        return recorder

    def collect(self) -> list[Path]:
        """Save the selected face's crop (every face's when none is selected) for the emotion."""
        result = self.result
        if result is None or not result.faces:
            self.set_status("no face to collect in this frame", error=True)
            return []
        chosen = [f for f in result.faces if f.track_id == self.selected_track]
        faces = chosen or result.faces
        try:
            paths = save_face_crops(result.frame.frame_bgr, faces, self.collect_var.get(),
                                    self.emotion_var.get())
        except FerkitError as exc:
            self.set_status(str(exc), error=True)
            return []
        self.collected += len(paths)
        self.set_status(f"saved {len(paths)} {self.emotion_var.get()} crop(s) to "
                        f"{paths[0].parent} ({self.collected} this session)")
        return paths

    def select_at_view(self, x: float, y: float) -> Face | None:
        """Select the face under view pixel (x, y) (none there: back to the first face)."""
        if self.result is None or self.transform is None:
            return None
        index = face_at(self.result.faces, *self.transform.to_image(x, y))
        self.selected_track = None if index is None else self.result.faces[index].track_id
        self._draw_selection()
        self._draw_bars()
        return self.selected()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.root.after_cancel(self._after)
        except tk.TclError:
            pass
        try:
            self.worker.stop_recording()
        except (FerkitError, OSError) as exc:  # the window closes all the same
            print(f"ferkit gui: the recording could not be kept: {exc}", file=sys.stderr)
        finally:
            self.worker.stop()
            try:
                self.root.destroy()
            except tk.TclError:  # already gone
                pass

    # -- event handlers --------------------------------------------------------------------
    def _ask_image(self) -> None:
        path = filedialog.askopenfilename(parent=self.root, title="Open image",
                                          filetypes=_IMAGE_TYPES)
        if path:
            self.open_source(path)

    def _ask_video(self) -> None:
        path = filedialog.askopenfilename(parent=self.root, title="Open video",
                                          filetypes=_VIDEO_TYPES)
        if path:
            self.open_source(path)

    def _ask_collect_dir(self) -> None:
        path = filedialog.askdirectory(parent=self.root, title="Folder for collected faces",
                                       initialdir=self.collect_var.get() or os.getcwd())
        if path:
            self.collect_var.set(path)

    def _settings_changed(self) -> None:
        try:
            settings = replace(self.settings, label_set=self.label_set_var.get(),
                               detector=_detector_spec(self.detector_var.get()),
                               smoothing=bool(self.smoothing_var.get()))
        except FerkitError as exc:
            self.set_status(str(exc), error=True)
            return
        self.settings = settings
        self.worker.set_settings(settings)

    def _on_click(self, event: tk.Event) -> None:
        self.canvas.focus_set()
        face = self.select_at_view(event.x, event.y)
        if face is not None and self.selected_track is not None:
            self.set_status(f"selected face #{face.track_id} ({face.label})")

    def _on_key(self, event: tk.Event) -> None:
        if isinstance(event.widget, _TEXT_WIDGETS):
            return
        key = event.keysym.lower()
        if event.state & 0x4:  # Control held: leave it to the Control bindings
            return
        if key == "space" and isinstance(event.widget, (tk.Button, ttk.Button, ttk.Checkbutton)):
            return  # space presses the focused button instead
        if key == "space":
            self.toggle_play()
        elif key == "s":
            self.snapshot()
        elif key == "r":
            self.toggle_record()
        elif key == "c":
            self.collect()
        elif key.isdigit() and 1 <= int(key) <= len(EMOTIONS):
            self.emotion_var.set(EMOTIONS[int(key) - 1])
            self.set_status(f"collecting: {self.emotion_var.get()}")

    def _on_seek_press(self, _event: tk.Event) -> None:
        self._dragging = True

    def _on_seek_release(self, _event: tk.Event) -> None:
        self._dragging = False
        if self.result is not None and self.result.frame_count:
            self.worker.seek(round(self.seek_var.get()))

    # -- polling and drawing ---------------------------------------------------------------
    def _poll(self) -> None:
        if self._closed:
            return
        said = False
        try:
            while True:
                message = self.worker.messages.get_nowait()
                self.set_status(message.text, message.error)
                said = True
        except queue.Empty:
            pass
        if said:  # e.g. "end of video": the play button changes too
            self._update_transport()
        newest = None
        try:
            while True:
                newest = self.worker.results.get_nowait()
        except queue.Empty:
            pass
        if newest is not None:
            self.result = newest
            self._display_fps.tick()
            self._render()
            self._update_transport()
        self._after = self.root.after(self._poll_ms, self._poll)

    def _render(self) -> None:
        result = self.result
        view_wh = (self.canvas.winfo_width(), self.canvas.winfo_height())
        if result is None:
            self.canvas.itemconfigure(self._hint_item, text=self._status)
            return
        self.canvas.itemconfigure(self._hint_item, text="")
        image = result.annotated_bgr
        transform = ViewTransform.fit(image.shape[1::-1], view_wh)
        shrink = transform.scale < 1
        scaled = cv2.resize(image, transform.size_wh,
                            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        self._photo = ImageTk.PhotoImage(Image.fromarray(cv2.cvtColor(scaled, cv2.COLOR_BGR2RGB)))
        self.canvas.itemconfigure(self._image_item, image=self._photo)
        self.canvas.coords(self._image_item, transform.offset_x, transform.offset_y)
        self.transform = transform
        self._draw_selection()
        self._draw_bars()
        infer = f"{result.infer_ms:.0f} ms/frame"
        rate = f"{result.fps:.1f} fps analysed · " if result.source_kind != "image" else ""
        self.fps_label.configure(text=f"{rate}{infer}")

    def _draw_selection(self) -> None:
        face = self.selected()
        chosen = self.selected_track is not None or len(self.faces()) > 1
        if face is None or self.transform is None or not chosen:
            self.canvas.itemconfigure(self._select_item, state="hidden")
            return
        x1, y1, x2, y2 = self.transform.to_view(face.box_xyxy)
        self.canvas.coords(self._select_item, x1 - 3, y1 - 3, x2 + 3, y2 + 3)
        self.canvas.itemconfigure(self._select_item, state="normal")
        self.canvas.tag_raise(self._select_item)

    def _draw_bars(self) -> None:
        face = self.selected()
        c = self.bars_canvas
        c.delete("all")
        rows = probability_bars(face, self.settings.label_set)
        c.configure(height=BAR_ROW_H * len(rows) + 4)
        if face is None:
            self.face_label.configure(text="no face in this frame")
        else:
            w, h = face.size_wh
            which = f"#{face.track_id}" if face.track_id is not None else "face"
            self.face_label.configure(text=f"{which}: {face.label or '?'} ({w:.0f}×{h:.0f} px)")
        width = int(c.winfo_width()) if c.winfo_width() > 1 else PANEL_W - 24
        left, right = 70, width - 44
        for row, (name, p) in enumerate(rows):
            y = row * BAR_ROW_H + 4
            c.create_text(4, y + 8, anchor="w", text=name)
            c.create_rectangle(left, y, right, y + 16, outline="#cccccc", fill="#f2f2f2")
            c.create_rectangle(left, y, left + (right - left) * p, y + 16, outline="",
                               fill=_hex(COLOURS.get(name, (128, 128, 128))))
            c.create_text(width - 4, y + 8, anchor="e", text=f"{p:.2f}")

    def _update_transport(self) -> None:
        result = self.result
        playing = self.worker.playing
        self.record_button.configure(
            text="Stop recording (r)" if self.worker.recording else "Record (r)")
        video = result is not None and result.source_kind == "video"
        self.play_button.configure(text="Pause" if playing else "Play",
                                   state="normal" if video else "disabled")
        if result is None:
            return
        if video and result.frame_count:
            self.seek_scale.configure(to=max(1, result.frame_count - 1), state="normal")
            if not self._dragging:
                self.seek_var.set(result.frame.index)
            self.position_label.configure(
                text=f"{result.frame.index + 1}/{result.frame_count} · {result.frame.time_s:.1f}s")
        else:
            self.seek_scale.configure(state="disabled")
            label = result.source_name if result.source_kind == "image" else (
                f"{result.source_name} · frame {result.frame.index}")
            self.position_label.configure(text=label)


def create_app(model: str | Path | None = None, *, source: str | int | None = None,
               settings: Settings | None = None, output_dir: str | Path = "ferkit-gui",
               collect_dir: str | Path | None = None, threads: int | None = None,
               root: tk.Tk | None = None) -> FerkitApp:
    """Load the model, open a window and return the app (call `app.root.mainloop()`).

    Raises FerkitError when the model or detector cannot be loaded or no window can be opened.
    """
    from ferkit.recognizer import RecognizerPool

    settings = settings or Settings()
    recognizers = RecognizerPool(model=model, threads=threads)
    # The streams' recognizer, built now: a bad model or detector spec fails before any window
    # opens.
    recognizers.get(settings.options().detector_for("video"))
    if root is None:
        try:
            root = tk.Tk(className="ferkit")
        except tk.TclError as exc:
            display = os.environ.get("DISPLAY")
            raise FerkitError(f"cannot open a window ({exc}); DISPLAY is "
                              f"{display!r}: run on a desktop or under Xvfb") from None
    processor = FrameProcessor(recognizers)
    return FerkitApp(root, processor, settings=settings, source=source, output_dir=output_dir,
                     collect_dir=collect_dir)
