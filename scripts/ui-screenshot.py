"""Screenshot the web page of a running ``prismrec serve`` with Playwright and Debian's chromium.

Usage:
  python scripts/ui-screenshot.py --url http://127.0.0.1:8000 --key-file demo-out/api-key.txt \
      --user 1 --out docs/images/ui.png [--width 1280] [--height 1000] [--page user|item|model]

The page is opened as a person would: the key typed into the key field, the user typed into the
user field; the shot is taken once the interest cards and the recommendations are on screen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def chromium() -> str:
    found = os.environ.get("PRISMREC_CHROMIUM") or next(
        (p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None
    )
    if not found:
        sys.exit("no chromium: install it (apt-get install chromium) or set PRISMREC_CHROMIUM")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key-file", type=Path, required=True)
    ap.add_argument("--user", default="1")
    ap.add_argument("--item", default="1")
    ap.add_argument("--page", choices=["user", "item", "model"], default="user")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--full-page", action="store_true")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    key = args.key_file.read_text().strip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(f"{args.url}/ui/")
        page.get_by_test_id("api-key-input").fill(key)
        page.get_by_test_id("api-key-input").press("Enter")
        if args.page == "user":
            page.get_by_test_id("user-input").fill(args.user)
            page.get_by_test_id("user-input").press("Enter")
            page.get_by_test_id("interest-card").first.wait_for()
            page.get_by_test_id("rec-item").first.wait_for()
            page.locator("#history li").first.wait_for()
        elif args.page == "item":
            page.goto(f"{args.url}/ui/#/item/{args.item}")
            page.get_by_test_id("similar-item").first.wait_for()
        else:
            page.goto(f"{args.url}/ui/#/model")
            page.locator(".chart").first.wait_for()
            page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=args.full_page)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
