"""Benchmark of the app as a user meets it: first page load, 100 uploads to a full table, Grad-CAM.

Run: ``.venv/bin/python benchmarks/bench_app.py [--bundle models/default] [--images 100]``.
Starts ``streamlit run app.py`` on a free port with the given bundle as the shipped default
(state, user bundles and demo data in a temporary folder), drives Debian's Chromium through
Playwright and records to benchmarks/results/app.json:

* ``server_start_s``: process start to ``/_stcore/health`` answering;
* ``first_page_load_s``: a new browser session until the Home page text is shown;
* ``upload_to_table_s``: ``--images`` synthetic SEM PNGs set on the Inspect uploader until the
  caption "N files: N scored" is shown, first in a server that has not loaded TensorFlow or the
  bundle yet (``cold``) and then in a new session of the warm server (``warm``, the same files,
  so the per-session hash cache is empty and every image is run again);
* ``gradcam_detail_s``: choosing another image in the detail view until both overlays of that
  image are drawn (Grad-CAM of both stages computed for it).

Wall times on a shared 2-core machine; the load average before and after is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage"]
LONG_MS = 600_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_images(folder: Path, count: int, size: int, seed: int) -> list[Path]:
    """``count`` synthetic SEM PNGs (all classes in turn) from the project's generator."""
    from PIL import Image

    from sem_core.data.synth.config import SynthConfig
    from sem_core.data.synth.sample import generate_sample

    folder.mkdir(parents=True, exist_ok=True)
    config, paths = SynthConfig(size=size), []
    for index in range(count):
        sample = generate_sample(config, seed, 2, index)
        path = folder / f"bench_{index:03d}_{sample.sidecar.label_true}.png"
        Image.fromarray(sample.image).save(path)
        paths.append(path)
    return paths


def start_server(bundle: Path, work: Path) -> tuple[subprocess.Popen, str, float]:
    """Start the app; returns the process, its URL and the seconds until it answered."""
    port = _free_port()
    environment = {**os.environ, "SEM_DEFAULT_BUNDLE": str(bundle.resolve()),
                   "SEM_MODELS_DIR": str(work / "user_models"), "SEM_DATA_ROOT": str(work / "data"),
                   "SEM_APP_DIR": str(work / "app"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < 180:
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return process, url, time.perf_counter() - started
        except requests.ConnectionError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the app server did not answer within 180 s")


def first_page_load(browser, url: str) -> tuple[object, float]:
    """A new session on the Home page; returns the page and seconds until its text showed."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    started = time.perf_counter()
    page.goto(url)
    page.get_by_text("SEM defect inspection workbench").first.wait_for(timeout=LONG_MS)
    return page, time.perf_counter() - started


def upload_to_table(page, images: list[Path]) -> float:
    """Seconds from setting the files on the Inspect uploader to the full results caption."""
    page.locator("[data-testid=stSidebarNav]").get_by_text("Inspect", exact=True).click()
    page.get_by_role("heading", name="Inspect images").first.wait_for(timeout=LONG_MS)
    started = time.perf_counter()
    page.locator("input[type=file]").first.set_input_files([str(path) for path in images])
    count = len(images)
    page.get_by_text(f"{count} files: {count} scored").wait_for(timeout=LONG_MS)
    page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=LONG_MS)
    return time.perf_counter() - started


def gradcam_detail(page, name: str) -> float:
    """Seconds from picking ``name`` in the detail view to both of its overlays drawn."""
    page.wait_for_function("() => !document.querySelector('[data-testid=stSpinner]')",
                           timeout=LONG_MS)
    picker = page.get_by_label("Image", exact=True)
    started = time.perf_counter()
    picker.click()
    page.keyboard.type(name)  # the picker filters its options as one types
    page.keyboard.press("Enter")
    page.get_by_text(f"{name}:").first.wait_for(timeout=LONG_MS)
    page.wait_for_function(
        """() => {
            const pictures = [...document.querySelectorAll('[data-testid=stImage] img')];
            return !document.querySelector('[data-testid=stSpinner]') && pictures.length >= 3
                && pictures.every(node => node.complete && node.naturalWidth > 0);
        }""", timeout=LONG_MS)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / "models" / "default"),
                        help="bundle folder served as the shipped default (default models/default)")
    parser.add_argument("--images", type=int, default=100, help="images uploaded (default 100)")
    parser.add_argument("--size", type=int, default=224, help="side of the images in px (224)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "app.json"))
    parser.add_argument("--note", default="", help="context recorded with the figures")
    args = parser.parse_args(argv)
    bundle = Path(args.bundle)
    if not (bundle / "bundle.json").is_file():
        print(f"{bundle}: no bundle here; build models/default (make default-model) or pass "
              "--bundle", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from sem_core.registry import read_bundle_info

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-app-") as folder:
        work = Path(folder)
        images = write_images(work / "images", args.images, args.size, seed=17)
        process, url, server_start = start_server(bundle, work)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                page, first_load = first_page_load(browser, url)
                cold = upload_to_table(page, images)
                detail = gradcam_detail(page, images[1].name)
                second_page, second_load = first_page_load(browser, url)
                warm = upload_to_table(second_page, images)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    info = read_bundle_info(bundle)
    record = {
        "bundle": {"path": str(bundle), "stage2": info.stage2.architecture,
                   "input_size": info.input_size, "stage1_threshold": info.stage1_threshold},
        "note": args.note,
        "images": {"count": args.images, "size_px": args.size, "source": "sem_core synth, seed 17"},
        "server_start_s": round(server_start, 2),
        "first_page_load_s": round(first_load, 2),
        "second_session_page_load_s": round(second_load, 2),
        "upload_to_table_s": {"cold": round(cold, 2), "warm": round(warm, 2)},
        "upload_to_table_images_per_s": {"cold": round(args.images / cold, 2),
                                         "warm": round(args.images / warm, 2)},
        "gradcam_detail_s": round(detail, 2),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_before": [round(value, 2) for value in load_before],
                    "load_average_after": [round(value, 2) for value in os.getloadavg()]},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
