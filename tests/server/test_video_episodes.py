"""A video job's episodes and report: GET /v1/videos/{id}/episodes/{name} and /report.html give
the files `ferkit video --episodes` writes, read back by their own parsers."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

pytest.importorskip("fastapi")
pd = pytest.importorskip("pandas", reason="needs pandas (the dev extra)")
pympi = pytest.importorskip("pympi", reason="needs pympi-ling (the dev extra)")
praatio_textgrid = pytest.importorskip("praatio.textgrid", reason="needs praatio (dev extra)")

from clips import write_video  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from test_videos import GatedRecognizer, assert_error, wait_done  # noqa: E402

from ferkit.episodes import EpisodeOptions  # noqa: E402
from ferkit.server.app import create_app  # noqa: E402

NAMES = ("eaf", "TextGrid", "boris.tsv", "boris.xlsx", "frames.csv", "episodes.csv")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("vidéo") / "entretien 表情.mp4", frames=20)


def test_a_job_gives_every_export_and_the_report_of_ferkit_video_episodes(server, clip,
                                                                          tmp_path):
    options = {"every": 2, "min_episode": 0.5, "margin": 0.3, "uncertain_below": 0.4}
    r = httpx.post(server.url + "/v1/videos", params=options, timeout=30.0,
                   files={"file": (clip.name, clip.read_bytes(), "video/mp4")})
    assert r.status_code == 202, r.text
    body = wait_done(lambda p: httpx.get(server.url + p, timeout=30.0), r.json()["id"])
    assert body["status"] == "done", body
    assert (body["min_episode"], body["margin"], body["uncertain_below"]) == (0.5, 0.3, 0.4)

    served = tmp_path / "served"
    served.mkdir()
    for name in NAMES:
        answer = httpx.get(server.url + f"/v1/videos/{body['id']}/episodes/{name}", timeout=30.0)
        assert answer.status_code == 200, answer.text
        filename = f"{clip.stem}.{name}"
        assert f"filename*=UTF-8''{quote(filename)}" in answer.headers["content-disposition"]
        (served / filename).write_bytes(answer.content)

    # The same clip and options through the CLI.
    cli = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "ferkit.cli", "video", str(clip), "--episodes",
                    str(cli), "--every", "2", "--min-episode", "0.5", "--margin", "0.3",
                    "--uncertain-below", "0.4", "--no-progress", "--out",
                    str(tmp_path / "rows.json")], check=True, capture_output=True)
    stem = clip.stem
    for suffix in ("TextGrid", "boris.tsv", "frames.csv", "episodes.csv"):
        assert (served / f"{stem}.{suffix}").read_bytes() == (cli / f"{stem}.{suffix}").read_bytes()

    episodes = pd.read_csv(served / f"{stem}.episodes.csv")
    assert set(episodes.face_id) == {1} and episodes.end_s.max() == pytest.approx(2.0)
    frames = pd.read_csv(served / f"{stem}.frames.csv")
    assert list(frames.frame) == list(range(0, 20, 2)) and set(frames.success) == {1}
    eaf, cli_eaf = (pympi.Elan.Eaf(str(folder / f"{stem}.eaf")) for folder in (served, cli))
    assert list(eaf.get_tier_names()) == ["face 1"]
    assert (sorted(eaf.get_annotation_data_for_tier("face 1"))
            == sorted(cli_eaf.get_annotation_data_for_tier("face 1")))
    # The server has no copy of the video: ELAN finds it by name beside the .eaf.
    assert eaf.media_descriptors[0]["RELATIVE_MEDIA_URL"] == "./" + quote(clip.name)
    grid = praatio_textgrid.openTextgrid(str(served / f"{stem}.TextGrid"),
                                         includeEmptyIntervals=True)
    assert grid.tierNames == ("face 1",) and grid.maxTimestamp == pytest.approx(2.0)
    xlsx, cli_xlsx = (pd.read_excel(folder / f"{stem}.boris.xlsx", keep_default_na=False)
                      for folder in (served, cli))
    pd.testing.assert_frame_equal(xlsx, cli_xlsx)
    tsv = pd.read_csv(served / f"{stem}.boris.tsv", sep="\t", keep_default_na=False)
    assert list(xlsx.columns) == list(tsv.columns) == ["time", "subject", "code", "modifier",
                                                       "comment"]
    assert set(tsv.subject) == {"face 1"} and len(tsv) == 2 * len(episodes)

    page = httpx.get(server.url + f"/v1/videos/{body['id']}/report.html", timeout=30.0)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.count('<section class="face"') == 1 and clip.name in html
    assert "0.5 s" in html and "http://" not in html and "https://" not in html
    for name in NAMES:  # every export travels inside the page
        assert f'download="{stem}.{name}"' in html


def test_bad_episode_options_are_422_before_the_upload_is_read(server):
    for params, fragment in [({"min_episode": -1}, "min_episode"), ({"margin": 1}, "margin"),
                             ({"uncertain_below": "x"}, "uncertain_below"),
                             ({"margin": "nan"}, "margin")]:
        assert_error(httpx.post(server.url + "/v1/videos", params=params, content=b"x",
                                timeout=30.0), 422, fragment)


def test_defaults_are_the_clis_and_the_routes_are_documented(clip):
    app = create_app(lambda detector: GatedRecognizer())
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
        assert "/v1/videos/{job_id}/report.html" in schema["paths"]
        export = schema["paths"]["/v1/videos/{job_id}/episodes/{name}"]["get"]
        assert all(f"`{name}`" in export["description"] for name in NAMES)
        params = {p["name"]: p for p in schema["paths"]["/v1/videos"]["post"]["parameters"]}
        default = EpisodeOptions()
        assert (params["min_episode"]["schema"]["default"], params["margin"]["schema"]["default"],
                params["uncertain_below"]["schema"]["default"]) == (
                    default.min_duration_s, default.margin, default.uncertain_below)


def test_not_yet_done_unknown_job_and_unknown_export(clip):
    recognizer = GatedRecognizer()
    app = create_app(lambda detector: recognizer)
    with TestClient(app) as client:
        job = client.post("/v1/videos?every=10", content=clip.read_bytes()).json()
        assert recognizer.started.wait(10)
        assert_error(client.get(f"/v1/videos/{job['id']}/report.html"), 409, "running")
        assert_error(client.get(f"/v1/videos/{job['id']}/episodes/eaf"), 409, "running")
        assert_error(client.get(f"/v1/videos/{job['id']}/episodes/mp4"), 422, "unknown export")
        assert_error(client.get("/v1/videos/nope/report.html"), 404, "no video job")
        recognizer.gate.set()
        body = wait_done(client.get, job["id"], 30)
        assert body["status"] == "done"
        # A fake recognizer's face (no model file): the report still renders.
        page = client.get(f"/v1/videos/{job['id']}/report.html")
        assert page.status_code == 200 and page.text.count('<section class="face"') == 1
        frames = pd.read_csv(io.BytesIO(client.get(
            f"/v1/videos/{job['id']}/episodes/frames.csv").content))
        assert list(frames.frame) == [0, 10] and set(frames.face_id) == {1}
        # Episode options belong to the job: a download naming them is told so, not ignored.
        for route in ("episodes/episodes.csv?min_episode=0.5", "report.html?margin=0.3"):
            assert_error(client.get(f"/v1/videos/{job['id']}/{route}"), 422,
                         "give episode options when posting the video")


class NoFaces:
    def analyze(self, image, label_set="seed5", **options):
        return []


def test_a_video_without_faces_gives_valid_empty_exports(clip, tmp_path):
    with TestClient(create_app(lambda detector: NoFaces())) as client:
        job = client.post("/v1/videos?every=5", content=clip.read_bytes()).json()
        assert wait_done(client.get, job["id"], 30)["status"] == "done"
        files = {name: client.get(f"/v1/videos/{job['id']}/episodes/{name}").content
                 for name in ("eaf", "TextGrid", "episodes.csv")}
        page = client.get(f"/v1/videos/{job['id']}/report.html").text
    (tmp_path / "v.eaf").write_bytes(files["eaf"])
    (tmp_path / "v.TextGrid").write_bytes(files["TextGrid"])
    assert list(pympi.Elan.Eaf(str(tmp_path / "v.eaf")).get_tier_names()) == []
    grid = praatio_textgrid.openTextgrid(str(tmp_path / "v.TextGrid"), includeEmptyIntervals=True)
    assert grid.tierNames == () and grid.maxTimestamp == pytest.approx(2.0)
    assert pd.read_csv(io.BytesIO(files["episodes.csv"])).empty
    assert 'id="no-faces"' in page


def test_api_key_applies_to_reports_and_exports(keyed_server, clip):
    url, key = keyed_server.url, {"X-API-Key": "s3cret-key"}
    r = httpx.post(url + "/v1/videos?every=5", content=clip.read_bytes(), headers=key,
                   timeout=30.0)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while httpx.get(url + f"/v1/videos/{job_id}", headers=key).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for path in (f"/v1/videos/{job_id}/report.html", f"/v1/videos/{job_id}/episodes/eaf"):
        assert_error(httpx.get(url + path), 401, "API key")
        assert httpx.get(url + path, headers=key, timeout=30.0).status_code == 200
    spec = httpx.get(url + "/openapi.json").json()  # /docs says both need the key
    for path in ("/v1/videos/{job_id}/report.html", "/v1/videos/{job_id}/episodes/{name}"):
        assert spec["paths"][path]["get"]["security"] == [{"ApiKey": []}]


def test_a_job_segments_its_episodes_once_for_every_export_and_the_report(clip, monkeypatch):
    from ferkit import coding

    calls, segment = [], coding.segment

    def counted(recording, options):
        calls.append(options)
        return segment(recording, options)

    monkeypatch.setattr(coding, "segment", counted)
    recognizer = GatedRecognizer()
    recognizer.gate.set()
    with TestClient(create_app(lambda detector: recognizer)) as client:
        job = client.post("/v1/videos?every=5", content=clip.read_bytes()).json()
        assert wait_done(client.get, job["id"], 30)["status"] == "done"
        for name in NAMES:
            assert client.get(f"/v1/videos/{job['id']}/episodes/{name}").status_code == 200
        assert client.get(f"/v1/videos/{job['id']}/report.html").status_code == 200
    assert len(calls) == 1
