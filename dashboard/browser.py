"""Serve the app on loopback in a thread and drive Debian's Chromium — for the browser tests and
the README screenshot. Never downloads a browser: it uses /usr/bin/chromium + chromedriver."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app, port: int | None = None) -> Iterator[str]:
    """Run a Dash app's server on 127.0.0.1 in a thread -> its URL."""
    from werkzeug.serving import make_server

    port = port or free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()


def chromium_available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def headless_chromium(width: int = 1400, height: int = 1600, download_dir: str | None = None):
    """A selenium driver for headless Chromium with the flags this machine's closed network
    needs (no background networking, no sandbox as root), console logs captured; downloads go
    to ``download_dir`` without a prompt when given, each under its own name (a GUID: two
    downloads of the same file both stay). Chromium's own temporary files (its profile
    lock's socket) go to a folder of the driver's, removed when it quits."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if download_dir:
        opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                               "download.prompt_for_download": False,
            "profile.default_content_setting_values.automatic_downloads": 1})  # fmt: skip
    scratch = tempfile.mkdtemp(prefix="lstm-probe-chromium-")
    service = Service(env={**os.environ, "TMPDIR": scratch})
    try:
        driver = webdriver.Chrome(options=opts, service=service)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    quit_driver = driver.quit

    def quit_and_clean() -> None:
        try:
            quit_driver()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    driver.quit = quit_and_clean
    if download_dir:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allowAndName", "downloadPath": str(download_dir)})  # fmt: skip
    return driver
