"""The web UI in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium) against a live
`tally serve` seeded with a multi-tenant workload. Each step saves a screenshot under test-artifacts/ui/."""
import os
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import PUBLIC_KEY, SECRET_KEY, ROOT, TallyServer, free_port
import seed

ARTIFACTS = Path(os.environ.get("TALLY_ARTIFACTS", ROOT / "test-artifacts")) / "ui"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = TallyServer(str(tmp_path_factory.mktemp("ui") / "tally.db"), free_port())
    s.start()
    status, body = s.request("POST", "/api/public/ingestion", seed.batch())
    assert status == 207 and body["errors"] == [], body
    for prompt in seed.PROMPTS:
        status, body = s.request("POST", "/api/public/v2/prompts", prompt)
        assert status == 201, body
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")))
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=10, message=""):
    """Polls `condition`; an element replaced by a re-render between two reads just means "not yet"."""
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message)


def shot(driver, name):
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def console_errors(driver):
    """Browser console entries at SEVERE level since the last call (reading the log clears it)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def go(driver, hash_, ready_css):
    driver.execute_script("location.hash = arguments[0]", hash_)
    return wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ready_css), message=f"{ready_css} on {hash_}")


def rows(driver, table="#traces"):
    return driver.find_elements(By.CSS_SELECTOR, f"{table} tbody tr")


def trace_ids(driver):
    """The listed trace ids, read in one script call (atomic with respect to re-renders)."""
    return sorted(driver.execute_script(
        "return [...document.querySelectorAll('#traces tbody tr')].map(r => r.dataset.traceId)"))


def cells(driver, table, row=0):
    """Texts of one table row's cells, read in one script call."""
    return driver.execute_script(
        "const r = document.querySelectorAll(arguments[0] + ' tbody tr')[arguments[1]];"
        "return r ? [...r.children].map(c => c.innerText) : null", table, row)


def sign_in(driver, server, public=PUBLIC_KEY, secret=SECRET_KEY):
    driver.find_element(By.ID, "publicKey").clear()
    driver.find_element(By.ID, "publicKey").send_keys(public)
    driver.find_element(By.ID, "secretKey").clear()
    driver.find_element(By.ID, "secretKey").send_keys(secret + Keys.ENTER)


def test_01_sign_in_guards_everything(server, browser):
    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_elements(By.ID, "signin"))
    assert not browser.find_elements(By.ID, "traces")
    assert browser.find_element(By.ID, "nav").get_attribute("hidden") is not None
    # The data APIs answer 401 to a browser without a session.
    status = browser.execute_script(
        "return fetch('/api/tally/v1/traces', {credentials: 'same-origin'}).then(r => r.status)")
    assert status == 401
    sign_in(browser, server, secret="sk-wrong")
    wait(browser, lambda d: "not valid" in d.find_element(By.CSS_SELECTOR, "#signin .error").text)
    shot(browser, "01-sign-in-refused")
    browser.get_log("browser")  # the two 401s above are expected; start the console check from here
    sign_in(browser, server)
    wait(browser, lambda d: len(rows(d)) == 6)
    cookie = browser.get_cookie("tally_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return localStorage.length + sessionStorage.length") == 0
    # The cookie is read-only: a write with it alone is refused.
    status = browser.execute_script(
        "return fetch('/api/public/ingestion', {method: 'POST', credentials: 'same-origin', "
        "headers: {'Content-Type': 'application/json'}, body: '{\"batch\": []}'}).then(r => r.status)")
    assert status in (401, 403)
    browser.get_log("browser")
    shot(browser, "02-traces")


def test_02_filter_traces_by_tenant_tag_and_prompt_version(server, browser):
    go(browser, "#/traces", "#traces")
    field = browser.find_element(By.ID, "f-tenantId")
    field.send_keys("acme" + Keys.ENTER)
    wait(browser, lambda d: trace_ids(d) == ["acme-1", "acme-2", "acme-3"])
    assert "tenantId=acme" in browser.current_url  # the view can be shared
    shot(browser, "03-traces-tenant-acme")
    browser.get(server.url + "/#/traces?tags=copilot")
    wait(browser, lambda d: trace_ids(d) == ["acme-1", "acme-2", "globex-1"])
    go(browser, "#/traces?promptName=answer&promptVersion=2", "#traces")
    wait(browser, lambda d: trace_ids(d) == ["acme-2", "globex-1"])
    # Typing slowly re-renders the list after each pause; the field keeps focus and every keystroke.
    go(browser, "#/traces", "#traces")
    # The list of the previous filter may still re-render once (slower stores): click the field that stays.
    wait(browser, lambda d: d.find_element(By.ID, "f-q").click() or True)
    for ch in "search":
        browser.switch_to.active_element.send_keys(ch)  # wherever the focus is now, as a user's keyboard would
        time.sleep(0.45)
    wait(browser, lambda d: "q=search" in d.current_url and trace_ids(d) == ["acme-3", "init-1"])
    assert browser.switch_to.active_element.get_attribute("id") == "f-q"
    assert browser.find_element(By.ID, "f-q").get_attribute("value") == "search"
    # An explicit UTC day range: today holds every seeded trace, tomorrow none.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    go(browser, f"#/traces?from={today}&to={today}", "#traces")
    wait(browser, lambda d: len(trace_ids(d)) == 6 or time.gmtime().tm_hour == 0)  # seeded up to 50 min ago
    go(browser, f"#/traces?from={tomorrow}", "#traces")
    wait(browser, lambda d: trace_ids(d) == [])
    go(browser, "#/traces?level=ERROR", "#traces")
    wait(browser, lambda d: trace_ids(d) == ["acme-3"])
    # Sorting by cost, most expensive first.
    go(browser, "#/traces?sort=-totalCost", "#traces")
    wait(browser, lambda d: (cells(d, "#traces") or [""])[1:2] == ["search-request"] and
         d.execute_script("return document.querySelector('#traces tbody tr').dataset.traceId") == "init-1")
    assert cells(browser, "#traces")[8] == "$0.02"
    shot(browser, "04-traces-by-cost")
    assert console_errors(browser) == []


def test_03_trace_detail_tree_and_costs(server, browser):
    go(browser, "#/trace/acme-2", "#tree .obs-row")
    tree = browser.find_elements(By.CSS_SELECTOR, "#tree .obs-row")
    assert [r.get_attribute("data-observation-id") for r in tree] == ["acme-2-root", "acme-2-llm"]
    child = tree[1].find_element(By.TAG_NAME, "button")
    assert float(child.value_of_css_property("padding-left").replace("px", "")) > 0  # nested under the span
    child.click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#obs-detail [data-observation="acme-2-llm"]'))
    detail = browser.find_element(By.ID, "obs-detail").text
    assert "$0.00112 (inferred from prices)" in browser.find_element(By.ID, "obs-cost").text
    assert "gpt-4.1-mini" in detail and "answer v2" in detail
    assert "2,000" in detail and "200" in detail  # usage by key
    assert "You are helpful." in detail  # chat messages rendered
    shot(browser, "05-trace-detail")
    assert console_errors(browser) == []


def test_04_compare_prompt_versions(server, browser):
    go(browser, "#/prompts?name=answer&a=1&b=2", "#compare")
    table = browser.find_element(By.ID, "compare").text
    # v1: one run at 0.00056; v2: two runs, 0.0014 → 0.0007 per run (+25%).
    assert "Cost per run $0.00056 $0.0007 +25.0%" in table.replace("\n", " ")
    assert "Score: helpfulness (mean) 0.600 0.950" in table.replace("\n", " ")
    assert browser.find_elements(By.CSS_SELECTOR, ".chart svg circle")
    link = browser.find_element(By.CSS_SELECTOR, "#versions thead a")
    assert "promptName=answer" in link.get_attribute("href")
    # What changed between the two stored versions, line by line, next to the figures.
    rows = browser.find_elements(By.CSS_SELECTOR, "#prompt-diff tbody tr")
    ops = [r.get_attribute("class") for r in rows]
    texts = [[" ".join(td.text.split()) for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert texts[0] == ["system: You are helpful.", "system: You are helpful."] and ops[0] == "diff-same"
    assert ops[1] == "diff-changed" and texts[1] == ["− Answer in one paragraph.", "+ Answer in detail."]
    assert ops[2] == "diff-added" and texts[2][1] == "+ Cite every source."
    assert texts[3][1] == "+ " + seed.XSS  # shown as text, never run
    assert ['− "max_tokens": 256', '+ "max_tokens": 512'] in texts
    assert "lines differ" in browser.find_element(By.ID, "diff-summary").text
    assert browser.execute_script("return window.__xss") is None
    shot(browser, "06-prompt-versions")
    # A prompt managed in Tally that has not run yet is listed, labelled, and its versions compared.
    # The previous page's #prompt-diff is on screen until the new one renders: wait for triage's own diff.
    go(browser, "#/prompts?name=triage", "#prompt-diff")
    wait(browser, lambda d: "Classify" in d.find_element(By.ID, "prompt-diff").text, message="triage's diff")
    names = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#prompt-name option")]
    assert names == ["answer (3 runs)", "triage (0 runs)"]
    versions = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#compare-b option")]
    assert versions == ["v1 · production (no runs)", "v2 · latest, staging (no runs)"]
    row = browser.find_element(By.CSS_SELECTOR, "#prompt-diff tbody tr")
    assert row.get_attribute("class") == "diff-changed"
    # The mark (− / +) then the line, whatever the spacing the browser reports between them.
    assert [(td.text[:1], " ".join(td.text[1:].split())) for td in row.find_elements(By.TAG_NAME, "td")] == [
        ("−", "Classify {{ticket}}."), ("+", "Classify {{ticket}} as bug, question or billing.")]
    assert console_errors(browser) == []


def legibility_problems(driver):
    """Chart text drawn under 11 px on screen, and table cells or tables cut off inside their cards."""
    return driver.execute_script("""
        const out = [];
        for (const t of document.querySelectorAll('main svg text')) {
          const size = parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;
          if (size < 11) out.push('text ' + JSON.stringify(t.textContent) + ' at ' + size.toFixed(1) + ' px');
        }
        for (const card of document.querySelectorAll('main .card')) {
          const right = card.getBoundingClientRect().right;
          for (const table of card.querySelectorAll('table')) {
            if (table.getBoundingClientRect().right > right + 1) out.push('table ' + (table.id || '?') + ' overflows its card');
            for (const c of table.querySelectorAll('td, th'))
              if (c.scrollWidth > c.clientWidth + 1) out.push('cell ' + JSON.stringify(c.innerText) + ' clipped');
          }
        }
        return out;""")


def tooltip_after(driver, card, action):
    """The tooltip text of `card`'s first chart mark after hovering or focusing it."""
    mark = driver.find_element(By.CSS_SELECTOR, f"#{card} .mark")
    if action == "hover":
        webdriver.ActionChains(driver).move_to_element(mark).perform()
    else:
        driver.execute_script("arguments[0].focus()", mark)
    tip = driver.find_element(By.CSS_SELECTOR, f"#{card} .chart-tip")
    wait(driver, lambda d: tip.is_displayed(), message=f"tooltip of {card} on {action}")
    return tip.text


def test_05_dashboards(server, browser):
    go(browser, "#/dashboards", "#dash-models svg")
    for card in ("dash-spend", "dash-models"):
        assert browser.find_elements(By.CSS_SELECTOR, f"#{card} svg rect"), card
    assert browser.find_elements(By.CSS_SELECTOR, "#dash-success svg circle")
    top = [cells(browser, "#top-tenants", i)[0] for i in range(3)]
    assert top == ["initech", "acme", "globex"]
    # Legible at the width the issue saw (1400 px) and at a narrow one: text ≥ 11 px on screen, nothing clipped;
    # every bar and point tells its exact value on hover and on keyboard focus.
    for width in (1400, 760):
        browser.set_window_size(width, 1000)
        time.sleep(0.4)
        assert legibility_problems(browser) == [], width
    assert "$" in tooltip_after(browser, "dash-spend", "hover")
    assert "$" in tooltip_after(browser, "dash-models", "focus")
    assert "tokens / success" in tooltip_after(browser, "dash-success", "focus")
    browser.set_window_size(1280, 1000)
    time.sleep(0.3)
    shot(browser, "07-dashboards")
    browser.set_window_size(420, 900)  # narrow window: still renders, nothing overflows the page
    time.sleep(0.3)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    shot(browser, "08-dashboards-narrow")
    browser.set_window_size(1280, 1000)
    assert width <= 440
    assert console_errors(browser) == []


def test_06_tenant_page(server, browser):
    go(browser, "#/tenant/acme", "#tenant-recent")
    wait(browser, lambda d: d.find_element(By.ID, "tenant-total").text == "Spend: $0.00518")
    assert len(rows(browser, "#tenant-recent")) == 3
    assert cells(browser, "#tenant-expensive")[3] == "$0.0035"
    assert browser.find_element(By.ID, "tenant-savings").text.startswith("Cache saved: $")
    assert "alice" in browser.find_element(By.ID, "tenant-users").text
    assert browser.find_elements(By.CSS_SELECTOR, "#tenant-features svg rect")
    browser.set_window_size(1400, 1000)
    time.sleep(0.4)
    assert legibility_problems(browser) == []
    assert "$" in tooltip_after(browser, "tenant-features", "hover")
    browser.set_window_size(1280, 1000)
    shot(browser, "09-tenant-acme")
    go(browser, "#/tenants", "#tenants")
    assert "initech" in browser.find_element(By.ID, "tenants").text
    assert console_errors(browser) == []


def test_06b_users_and_sessions(server, browser):
    go(browser, "#/users", "#users")
    # Per user, most spent first: dave 0.02; alice acme-1 + acme-3 (an error) = 0.00406; bob; carol; the hostile
    # trace's user (10 + 10 tokens), shown as text.
    wait(browser, lambda d: len(rows(d, "#users")) == 5)
    assert [cells(browser, "#users", i)[0] for i in range(5)] == ["dave", "alice", "bob", "carol", seed.XSS_URL]
    alice = cells(browser, "#users", 1)
    assert alice[1:5] == ["2", "2,200", "$0.00406", "50.0%"] and alice[7] == "acme"
    assert "of 5 users" in browser.find_element(By.ID, "users-count").text
    browser.find_element(By.CSS_SELECTOR, "#users button[data-sort=traces]").click()
    wait(browser, lambda d: "sort=-traces" in d.current_url and cells(d, "#users", 0)[0] == "alice")
    shot(browser, "09b-users")
    browser.find_element(By.LINK_TEXT, "alice").click()
    wait(browser, lambda d: "userId=alice" in d.current_url and trace_ids(d) == ["acme-1", "acme-3"])
    # Sessions: newest first; by user; one session as a conversation with its cost per turn and in total.
    go(browser, "#/sessions", "#sessions")
    wait(browser, lambda d: len(rows(d, "#sessions")) == 4)
    field = browser.find_element(By.ID, "f-userId")
    field.send_keys("alice" + Keys.ENTER)
    wait(browser, lambda d: "userId=alice" in d.current_url and len(rows(d, "#sessions")) == 1)
    assert cells(browser, "#sessions")[3:6] == ["2", "2,200", "$0.00406"]
    browser.find_element(By.LINK_TEXT, "session-alice").click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#turns .turn")) == 2)
    assert browser.find_element(By.ID, "session-totals").text == "2 turns · 2,200 tokens · $0.00406"
    turns = browser.find_elements(By.CSS_SELECTOR, "#turns .turn")
    assert "question from alice" in turns[0].text and "$0.00056" in turns[0].text and "$0.0035" in turns[1].text
    assert "ERROR" in turns[1].find_element(By.CSS_SELECTOR, ".turn-figures").text
    shot(browser, "09c-session")
    assert console_errors(browser) == []


def test_07_hostile_trace_renders_inert(server, browser):
    go(browser, "#/traces", "#traces")
    wait(browser, lambda d: "xss-1" in trace_ids(d))
    assert "xss-1" in trace_ids(browser)
    go(browser, "#/trace/xss-1", "#tree .obs-row")
    browser.find_elements(By.CSS_SELECTOR, "#tree .obs-row button")[0].click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#obs-detail [data-observation="xss-llm"]'))
    time.sleep(0.5)  # give any injected handler the chance to run
    try:
        browser.switch_to.alert
        pytest.fail("an alert opened")
    except NoAlertPresentException:
        pass
    assert browser.execute_script("return window.__xss") is None
    # The payload is on the page as text, and no element came from it.
    assert seed.XSS in browser.find_element(By.TAG_NAME, "main").text
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script, main iframe") == []
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR, "a")]
    assert not any(h.lower().startswith("javascript:") for h in hrefs)
    shot(browser, "10-xss-trace")
    assert console_errors(browser) == []


def test_07b_budgets_page(server, browser):
    # acme has spent $0.00518 today: over a $0.004 daily plan; initech is on a roomy plan; globex is throttled.
    assert server.request("PUT", "/api/tally/v1/plans/starter", {"dailyUsd": 0.004, "requestsPerMinute": 60})[0] == 200
    assert server.request("PUT", "/api/tally/v1/plans/pro", {"dailyUsd": 10, "monthlyUsd": 200})[0] == 200
    assert server.request("PUT", "/api/tally/v1/tenants/acme/budget", {"plan": "starter"})[0] == 200
    assert server.request("PUT", "/api/tally/v1/tenants/initech/budget", {"plan": "pro"})[0] == 200
    assert server.request("PUT", "/api/tally/v1/tenants/globex/throttle", {"reason": "manual review"})[0] == 200
    assert server.request("PUT", "/api/tally/v1/switches/copilot", {"enabled": False, "reason": "runaway agent"})[0] == 200
    go(browser, "#/budgets", "#budgets")
    order = browser.execute_script("return [...document.querySelectorAll('#budgets tbody tr')].map(r => r.dataset.tenant)")
    assert order[0] == "acme" and set(order) == {"acme", "initech", "globex"}
    assert cells(browser, "#budgets", 0)[2].startswith("$0.00518 of $0.004")
    assert browser.find_elements(By.CSS_SELECTOR, '#budgets tr[data-tenant="acme"] .meter .fill.over')
    assert "manual review" in browser.find_element(By.CSS_SELECTOR, '#budgets tr[data-tenant="globex"] .throttle').text
    assert "runaway agent" in browser.find_element(By.ID, "switches").text
    assert "starter" in browser.find_element(By.ID, "plans").text
    assert legibility_problems(browser) == []
    shot(browser, "10b-budgets")
    # Lifting the throttle from the page: the row loses it.
    browser.find_element(By.CSS_SELECTOR, '#budgets tr[data-tenant="globex"] .throttle button').click()
    wait(browser, lambda d: "globex" not in d.execute_script(
        "return [...document.querySelectorAll('#budgets tbody tr')].map(r => r.dataset.tenant).join()"))
    assert console_errors(browser) == []


def test_07c_alerts_page(server, browser):
    # A channel whose receiver refuses connections: the delivery stays pending with its attempts shown.
    status, _ = server.request("POST", "/api/tally/v1/alerts/channels",
                               {"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/hook"})
    assert status == 201
    rule = {"name": "Budget thresholds", "type": "budget_threshold", "channels": ["ops"]}
    assert server.request("PUT", "/api/tally/v1/alerts/rules/seed-budget-threshold", rule)[0] == 200
    go(browser, "#/alerts", "#rules")
    assert len(rows(browser, "#rules")) == 5
    browser.find_element(By.ID, "evaluate").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#firing tr[data-rule-type="budget_threshold"]'))
    text = browser.find_element(By.ID, "firing").text
    assert "tenant acme" in text and "daily budget" in text and "ops" in text
    # A webhook's `url` opens the page on its firing.
    firing_id = browser.find_element(By.CSS_SELECTOR, "#firing tbody tr").get_attribute("data-firing-id")
    go(browser, "#/alerts?firing=" + firing_id, "#firing tr.selected")
    assert browser.find_element(By.CSS_SELECTOR, "#firing tr.selected").get_attribute("data-firing-id") == firing_id
    assert legibility_problems(browser) == []
    shot(browser, "10c-alerts")
    assert console_errors(browser) == []


def test_08_sign_out(server, browser):
    browser.find_element(By.ID, "signout").click()
    wait(browser, lambda d: d.find_elements(By.ID, "signin"))
    status = browser.execute_script(
        "return fetch('/api/tally/v1/traces', {credentials: 'same-origin'}).then(r => r.status)")
    assert status == 401
    browser.get(server.url + "/#/traces")
    wait(browser, lambda d: d.find_elements(By.ID, "signin"))
    assert not browser.find_elements(By.ID, "traces")
    shot(browser, "11-signed-out")


def test_09_tenant_key_sees_its_own_page_only(server, browser):
    """A customer signs in with a key for tenant acme: the UI opens acme's spend page with acme's figures, the nav
    offers only that page and acme's traces, and neither another tenant's page nor the project's settings open."""
    status, key = server.request("POST", "/api/tally/v1/keys", {"tenantId": "acme", "note": "acme's dashboard"})
    assert status == 201 and key["readOnly"] is True, key
    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_elements(By.ID, "signin"))
    sign_in(browser, server, public=key["publicKey"], secret=key["secretKey"])
    wait(browser, lambda d: d.find_elements(By.ID, "tenant-recent"))
    assert "Tenant: acme" in browser.find_element(By.ID, "project").text
    wait(browser, lambda d: d.find_element(By.ID, "tenant-total").text == "Spend: $0.00518")
    assert len(rows(browser, "#tenant-recent")) == 3
    visible = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#nav a") if a.is_displayed()]
    assert visible == ["Spend", "Traces"], visible
    assert not browser.find_elements(By.LINK_TEXT, "← Tenants")
    shot(browser, "12-tenant-key-own-page")
    # Other pages and another tenant's page lead back to acme's page.
    for hash_ in ("#/tenants", "#/tenant/initech", "#/budgets", "#/alerts", "#/dashboards", "#/prompts"):
        browser.execute_script("location.hash = arguments[0]", hash_)
        wait(browser, lambda d: d.execute_script("return location.hash") == "#/tenant/acme", message=hash_)
    # The traces page lists acme's traces only, and one opens.
    go(browser, "#/traces", "#traces")
    wait(browser, lambda d: len(rows(d)) > 0)
    tenants = browser.execute_script(
        "return [...document.querySelectorAll('#traces tbody tr')].map(r => r.innerText)")
    assert all("initech" not in t and "globex" not in t for t in tenants), tenants
    # The server refuses what the UI does not offer, whatever the browser asks.
    for path in ("/api/tally/v1/breakdown?tenantId=initech", "/api/tally/v1/budgets", "/api/public/observations"):
        status = browser.execute_script(
            "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.status)", path)
        assert status == 403, path
    browser.get_log("browser")  # the refused fetches above log errors on purpose
    browser.find_element(By.ID, "signout").click()
    wait(browser, lambda d: d.find_elements(By.ID, "signin"))
