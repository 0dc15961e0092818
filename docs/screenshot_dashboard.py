"""Regenerate docs/dashboard.png: serve a dump, open it in headless Chromium, take a screenshot.

python docs/screenshot_dashboard.py demo_output/dump docs/dashboard.png
"""

from __future__ import annotations

import sys
import time

from selenium.webdriver.common.by import By

from dashboard import create_app
from dashboard.browser import headless_chromium, serve


def main(dump: str, out: str) -> None:
    driver = headless_chromium(1500, 1500)
    try:
        with serve(create_app([dump])) as url:
            driver.get(url)
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
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
