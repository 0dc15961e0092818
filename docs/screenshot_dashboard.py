"""Regenerate the README's dashboard screenshots: serve a dump, open it in headless Chromium,
take the page (docs/dashboard.png, 1600 px wide) and Figures 5 and 4 on their own
(docs/dashboard_figure5.png, docs/dashboard_figure4.png).

python docs/screenshot_dashboard.py demo_output/dump docs
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium.webdriver.common.by import By

from dashboard import create_app
from dashboard.browser import headless_chromium, serve

READY = """
const g = id => document.querySelector('#' + id + ' .js-plotly-plot');
const n = id => g(id) && g(id).querySelectorAll('image').length;
return n('figure5') >= 18 && n('figure4') >= 4 && document.querySelectorAll('.colorbar').length;
"""


def main(dump: str, out_dir: str = "docs", width: int = 1600, height: int = 2600) -> None:
    out = Path(out_dir)
    driver = headless_chromium(width, height)
    try:
        with serve(create_app([dump])) as url:
            driver.get(url)
            end = time.time() + 90
            while time.time() < end and not driver.execute_script(READY):
                time.sleep(0.5)
            if not driver.execute_script(READY):
                raise SystemExit("the dashboard did not draw Figures 4 and 5 within 90 s")
            time.sleep(1.5)
            driver.save_screenshot(str(out / "dashboard.png"))
            for fig in ("figure5", "figure4"):
                driver.find_element(By.ID, fig).screenshot(str(out / f"dashboard_{fig}.png"))
    finally:
        driver.quit()
    for name in ("dashboard.png", "dashboard_figure5.png", "dashboard_figure4.png"):
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
