#!/usr/bin/env python3
"""The page in a real browser: headless Chromium on SwiftShader (WebGPU on the CPU).

Serves web/dist, loads the page, and through the page's own functions (window.dualmcmc:
status() and command(), the same commands its buttons send) checks that
  1. training on 8 gaussians advances the iterations, with finite losses,
  2. the energy landscape changes as the EBM learns,
  3. one teaching step (one Langevin step of the chains on the landscape) moves the chains,
  4. the x- and z-revision, interpolation and curve panels show the trained networks,
  5. Step, Reset and switching the toy work.
It saves a screenshot of the trained landscape and prints the page's iterations per second.

Run it with web/test_page.sh (it builds the page and installs Selenium first).
Exit code 0: all checks passed; 1: a check failed (the reason is printed).
"""

import argparse
import functools
import http.server
import json
import math
import os
import subprocess
import sys
import threading
import time


# WebGPU on SwiftShader, with a canvas eframe can draw to (docs/web.md).
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-angle=vulkan",
    "--use-vulkan=swiftshader",
    "--window-size=1280,800",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder):
    """A static file server for `folder` on a free port, in a thread; returns the port."""
    handler = functools.partial(QuietHandler, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class Page:
    def __init__(self, driver):
        self.driver = driver

    def status(self):
        # status() returns a JSON string.
        text = self.driver.execute_script("return window.dualmcmc ? window.dualmcmc.status() : null")
        return json.loads(text) if text else {"ready": False}

    def command(self, what):
        self.driver.execute_script("window.dualmcmc.command(arguments[0])", what)

    def wait(self, what, test, timeout):
        """Polls status() until test(status) holds; fails after `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            s = self.status()
            if s.get("failure"):
                fail(f"the app failed to start: {s['failure']}")
            if s.get("errors"):
                fail(f"the app shows an error while waiting for {what}: {s['errors']}")
            if test(s):
                return s
            if time.monotonic() > end:
                fail(f"timed out after {timeout} s waiting for {what}; last status: {json.dumps(s)}")
            time.sleep(0.2)


def fail(why):
    print(f"FAIL: {why}", flush=True)
    sys.exit(1)


def finite_losses(s):
    losses = s.get("losses") or {}
    return len(losses) == 3 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in losses.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--dist", default="web/dist", help="the built page (web/build.sh)")
    ap.add_argument("--iterations", type=int, default=30, help="training iterations to run")
    ap.add_argument("--screenshot", default="web/test_landscape.png",
                    help="where to save the trained landscape (README's picture: docs/web_landscape.png)")
    ap.add_argument("--native", metavar="DUALMCMC",
                    help="also run DUALMCMC --no-gui bench app (e.g. target/release/dualmcmc) right after, "
                         "for the desktop app's speed on this machine in the same run")
    ap.add_argument("--chromium", default="/usr/lib/chromium/chromium", help="the Chromium binary")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver", help="its WebDriver")
    args = ap.parse_args()
    from selenium import webdriver  # after parsing, so that --help works without Selenium
    from selenium.webdriver.chrome.service import Service
    for path, what in [(args.chromium, "Chromium"), (args.chromedriver, "chromedriver")]:
        if not os.path.exists(path):
            fail(f"{what} is not at {path}: install it (Debian: sudo apt-get install -y chromium "
                 f"chromium-driver) or pass --{what.lower()} PATH")

    port = serve(args.dist)
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
    try:
        began = time.monotonic()
        driver.get(f"http://127.0.0.1:{port}/")
        page = Page(driver)
        page.wait("the page to load", lambda s: driver.title == "dualmcmc (loaded)", 120)
        s = page.wait("a session on 8 gaussians", lambda s: s.get("ready"), 300)
        print(f"ready after {time.monotonic() - began:.1f} s on adapter: {s.get('adapter')}", flush=True)
        if "8gaussians" not in (s.get("data") or "") and "8 gaussians" not in (s.get("data") or ""):
            fail(f"the page should open on 8 gaussians; it opened on {s.get('data')}")
        before = page.wait("the untrained landscape", lambda s: s.get("landscape"), 120)["landscape"]

        # 1. Training advances, with finite losses.
        page.command("start")
        first = page.wait("training to start", lambda s: s.get("iteration", 0) >= 1, 120)
        t0, i0 = time.monotonic(), first["iteration"]
        s = page.wait(f"{args.iterations} iterations", lambda s: s.get("iteration", 0) >= args.iterations, 600)
        t1, i1 = time.monotonic(), s["iteration"]
        page.command("pause")
        s = page.wait("training to pause", lambda s: not s.get("running"), 60)
        if not finite_losses(s):
            fail(f"losses are not finite: {s.get('losses')}")
        rate = (i1 - i0) / (t1 - t0)
        print(f"trained to iteration {s['iteration']}: {rate:.2f} iterations/s in the page "
              f"(page's own mean: {s.get('seconds_per_iteration')} s/iteration); losses {s['losses']}", flush=True)

        # 2. The landscape follows the trained EBM and differs from the untrained one.
        done = s["iteration"]
        after = page.wait("the trained landscape",
                          lambda s: (s.get("landscape") or {}).get("iteration", -1) >= done, 120)["landscape"]
        if after["cells"] != before["cells"] or not math.isfinite(after["energy_sum"]):
            fail(f"the landscape is malformed: {after}")
        change = abs(after["energy_sum"] - before["energy_sum"]) / max(1.0, abs(before["energy_sum"]))
        if change < 1e-3:
            fail(f"the landscape did not change with training: {before} then {after}")
        print(f"landscape changed: energy sum {before['energy_sum']:.4g} -> {after['energy_sum']:.4g}", flush=True)

        # 3. One teaching step moves the chains.
        page.command("teach_reset")
        t = page.wait("the teaching chains", lambda s: (s.get("teach") or {}).get("step") == 0, 120)["teach"]
        page.command("teach_step")
        u = page.wait("one teaching step", lambda s: (s.get("teach") or {}).get("step") == 1, 120)["teach"]
        moved = math.dist(t["mean_position"], u["mean_position"])
        if u["chains"] < 1 or moved <= 0.0:
            fail(f"the chains did not move: {t} then {u}")
        print(f"teaching step: {u['chains']} chains, mean position moved by {moved:.4f}", flush=True)

        time.sleep(1.0)  # let the frame with the last view be drawn
        driver.save_screenshot(args.screenshot)
        print(f"screenshot: {args.screenshot}")

        # 4. The other 2-D panels show views of the trained networks.
        for tab, view in [("x", "x"), ("z", "z"), ("interpolation", "interpolation")]:
            page.command(f"tab:{tab}")
            v = page.wait(f"the {tab} view", lambda s: ((s.get("views") or {}).get(view) or {}).get("iteration") == done,
                          120)["views"][view]
            print(f"{tab} view at iteration {v['iteration']}: {v}", flush=True)
        page.command("tab:curves")
        c = page.wait("the curves", lambda s: s.get("tab") == "Curves", 60)
        if c["curve_points"] != done:
            fail(f"the curves hold {c['curve_points']} points after {done} iterations")

        # 5. Step, Reset and switching the toy.
        page.command("step")
        page.wait("one step", lambda s: s.get("iteration") == done + 1 and not s.get("running"), 120)
        page.command("reset")
        page.wait("a reset", lambda s: s.get("iteration") == 0 and s.get("ready"), 120)
        page.command("toy:checkerboard")
        s = page.wait("the checkerboard", lambda s: "checkerboard" in (s.get("data") or "") and s.get("ready"), 120)
        page.command("tab:landscape")
        page.wait("its landscape", lambda s: (s.get("landscape") or {}).get("iteration") == 0
                  and abs(s["landscape"]["energy_sum"] - after["energy_sum"]) > 1e-6, 120)
        print(f"step, reset and toy switch: {s['data']}", flush=True)
        print(json.dumps({"passed": True, "iterations_per_second": rate, "adapter": s.get("adapter")}))
    finally:
        driver.quit()
    if args.native:
        print(f"the desktop app on this machine ({args.native} --no-gui bench app --iterations {args.iterations}):",
              flush=True)
        subprocess.run([args.native, "--no-gui", "bench", "app", "--iterations", str(args.iterations)], check=True)


if __name__ == "__main__":
    main()
