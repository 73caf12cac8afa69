#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Drives the node's dashboard in headless Chromium (Debian's chromium + chromium-driver, Selenium from PyPI).

Started by Tests/CLITests/DashboardProcessTests.swift against a mesh of node processes. Checks that every page
renders the node's real data, that the resource put into the mesh shows on Resources with its replica-map grid,
and that a node killed with SIGKILL (--kill-pid) turns dead on the Mesh page; saves a PNG of each page in --out.
Prints one JSON line (the findings) last; exits 1 on the first failed check, with the reason on stderr.
"""
import argparse
import json
import os
import signal
import sys
import time

os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for drivers on the network

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def fail(message):
    print(f"dashboard test: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the API listener, http://127.0.0.1:PORT")
    parser.add_argument("--token", required=True)
    parser.add_argument("--out", required=True, help="folder for the screenshots")
    parser.add_argument("--node-id", required=True, help="the dashboard node's ID (inos status)")
    parser.add_argument("--members", type=int, required=True, help="members expected, the node included")
    parser.add_argument("--resource", required=True, help="the ID of the resource put into the mesh")
    parser.add_argument("--kill-pid", type=int, required=True, help="a node to SIGKILL")
    parser.add_argument("--kill-member", required=True, help="its member ID (16 hex digits)")
    parser.add_argument("--expect-job", action="store_true", help="a job submitted through the node is on the Jobs page")
    parser.add_argument("--expect-parity", action="store_true", help="a resource with parity shards is on Resources")
    parser.add_argument("--dead-within", type=float, default=45)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking", "--hide-scrollbars"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)
    findings = {"screenshots": []}
    try:
        # The pages redraw every second: an element found may be replaced before it is read.
        redrawn = (NoSuchElementException, StaleElementReferenceException)
        wait = WebDriverWait(driver, 30, poll_frequency=0.25, ignored_exceptions=redrawn)

        def shot(name, height=900):
            # The whole page: the window as tall as the document.
            driver.set_window_size(1280, height)
            time.sleep(0.2)
            for _ in range(3):  # the window's outer size includes the browser's own frame: grow until it all fits
                full = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
                inner = driver.execute_script("return window.innerHeight")
                outer = driver.get_window_size()["height"]
                if inner >= full or outer >= 4000:
                    break
                driver.set_window_size(1280, min(max(height, outer + int(full) - int(inner) + 8), 4000))
                time.sleep(0.3)
            path = os.path.join(args.out, f"{name}.png")
            if not driver.save_screenshot(path):
                fail(f"no screenshot of {name}")
            findings["screenshots"].append(path)

        # The token once in the address: a cookie and a redirect without it.
        driver.get(f"{args.url}/dashboard/?token={args.token}")
        wait.until(lambda d: "token=" not in d.current_url)
        if not driver.current_url.rstrip("/").endswith("/dashboard"):
            fail(f"redirected to {driver.current_url}")
        cookies = {c["name"]: c for c in driver.get_cookies()}
        cookie = cookies.get("inos_api_token")
        if not cookie or not cookie.get("httpOnly") or cookie.get("sameSite") != "Strict":
            fail(f"no HttpOnly SameSite=Strict cookie: {cookies}")

        # Overview: the node's ID and its members, from the live stream.
        wait.until(lambda d: d.find_elements(By.ID, "node-id"))
        node_id = driver.execute_script("return document.getElementById('node-id').getAttribute('title')")
        if node_id != args.node_id:
            fail(f"overview shows node {node_id}, expected {args.node_id}")
        wait.until(lambda d: d.find_element(By.ID, "member-count").text == str(args.members))
        findings["overview"] = driver.execute_script("""
            const t = id => document.getElementById(id).textContent;
            return {node_id: document.getElementById('node-id').getAttribute('title'), members: Number(t('member-count')),
                    version: t('node-version'), uptime: t('uptime')};""")
        # Let the bandwidth chart gather a few points.
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bandwidth-chart path.line-in")) > 0)
        # Its screenshot comes last, when the chart holds the whole run.

        # Mesh: every member in the graph, coloured by load.
        driver.get(f"{args.url}/dashboard/mesh")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#mesh-graph g.member")) == args.members)
        wait.until(lambda d: d.find_element(By.ID, "alive-count").text == str(args.members))
        findings["mesh"] = driver.execute_script("""
            const members = Array.from(document.querySelectorAll('#mesh-graph g.member'));
            return {members: members.length, classes: members.map(m => m.getAttribute('class')),
                    links: document.querySelectorAll('#mesh-graph line.link').length};""")
        if findings["mesh"]["links"] < 1:
            fail("no links in the mesh graph")
        shot("mesh")

        # Resources: the put's resource with its replica map.
        driver.get(f"{args.url}/dashboard/resources")
        selector = f'section.resource[data-resource="{args.resource}"] svg.replica-grid rect.cell'
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, selector)) > 0)
        if args.expect_parity:
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.replica-grid rect.cell.parity.held"))
        # Read in one script: the page redraws every second, so elements found one call earlier may be gone.
        findings["resources"] = driver.execute_script("""
            const section = document.querySelector(`section.resource[data-resource="${arguments[0]}"]`);
            const held = Array.from(section.querySelectorAll('rect.cell.held'));
            return {resource: arguments[0], cells: section.querySelectorAll('rect.cell').length, held: held.length,
                    holders: new Set(held.map(c => c.getAttribute('data-holder'))).size,
                    strategy: section.querySelector('.strategy').textContent, copies: section.querySelector('.copies').textContent,
                    target: section.querySelector('.target').textContent,
                    parity_cells: document.querySelectorAll('svg.replica-grid rect.cell.parity').length};""", args.resource)
        holders = findings["resources"]["holders"]
        if holders < 2:
            fail(f"the replica map names {len(holders)} holder(s): {findings['resources']}")
        shot("resources")

        # Jobs, ledger and plugins.
        driver.get(f"{args.url}/dashboard/jobs")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#plugins-table tbody tr")) > 0)
        if args.expect_job:
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr.succeeded .part"))
        findings["jobs"] = driver.execute_script("""
            const n = s => document.querySelectorAll(s).length;
            return {plugin_slots: n('#plugins-table tbody tr'), ledger_rows: n('#ledger-table tbody tr'),
                    job_rows: n('#jobs-table tbody tr.succeeded'), job_parts: n('#jobs-table tbody tr .part')};""")
        shot("jobs")

        # A node killed: dead on the Mesh page, within the SWIM timeout.
        driver.get(f"{args.url}/dashboard/mesh")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#mesh-graph g.member[data-member="{args.kill_member}"]'))
        os.kill(args.kill_pid, signal.SIGKILL)
        killed = time.monotonic()
        dead = WebDriverWait(driver, args.dead_within, poll_frequency=0.25, ignored_exceptions=redrawn)
        try:
            dead.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#mesh-graph g.member[data-member="{args.kill_member}"][data-state="dead"]'))
        except Exception:
            states = driver.execute_script("return Array.from(document.querySelectorAll(`#mesh-graph g.member[data-member='${arguments[0]}']`)).map(e => e.getAttribute('data-state'))", args.kill_member)
            fail(f"member {args.kill_member} not dead on the Mesh page {args.dead_within} s after SIGKILL (states seen: {states})")
        findings["killed"] = {"member": args.kill_member, "dead_after_seconds": round(time.monotonic() - killed, 1)}
        time.sleep(2)
        shot("mesh-dead")

        driver.get(f"{args.url}/dashboard/")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bandwidth-chart path.line-in")) > 0)
        time.sleep(1)
        shot("overview")
    finally:
        driver.quit()
    print(json.dumps(findings))


if __name__ == "__main__":
    main()
