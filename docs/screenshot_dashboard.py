"""Regenerate docs/dashboard.png: serve a dump, open it in headless Chromium, take a screenshot.

python docs/screenshot_dashboard.py demo_output/dump docs/dashboard.png
"""

from __future__ import annotations

import shutil
import sys
import threading
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from dashboard import create_app


def main(dump: str, out: str, width: int = 1500, height: int = 1700) -> None:
    app = create_app([dump])
    server = make_server("127.0.0.1", 8765, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts)
    try:
        driver.get("http://127.0.0.1:8765/")
        end = time.time() + 60
        while (
            time.time() < end
            and len(driver.find_elements(By.CSS_SELECTOR, "#figure5 image, #figure4 image")) < 2
        ):
            time.sleep(0.5)
        time.sleep(2)
        driver.save_screenshot(out)
    finally:
        driver.quit()
        server.shutdown()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
