"""Savings as a new user meets it, in a real headless Chromium against a live `tally serve`: an empty project shows
how to connect; after two weeks of seeded calls (savings_seed.py: each kind of waste once, controls next to them)
the insights API reports each finding once with the hand-worked figures, what-if reprices to the nano-dollar, and
the Savings page shows the findings as cards and answers the what-if form. Screenshots under test-artifacts/ui/."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import PUBLIC_KEY, TallyServer, free_port
from test_ui import browser, go, shot, sign_in, wait  # noqa: F401 (browser is a fixture)
import savings_seed


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = TallyServer(str(tmp_path_factory.mktemp("savings") / "tally.db"), free_port())
    s.start()
    yield s
    s.close()


def seed(server):
    batches, start, end = savings_seed.batches()
    for b in batches:
        status, body = server.request("POST", "/api/public/ingestion", b)
        assert status == 207 and body["errors"] == [], body
    return start, end


def iso(t):
    return savings_seed.iso(t)


def click_in_card(driver, card, text):
    """Clicks the link `text` of the card-th finding, in one script call (a re-render between finding the link and
    clicking it just means: try again)."""
    wait(driver, lambda d: d.execute_script(
        "const c = document.querySelectorAll('#findings article.finding')[arguments[0]];"
        "const a = c && [...c.querySelectorAll('a')].find(a => a.textContent === arguments[1]);"
        "if (a) a.click(); return !!a", card, text), message=f"link {text} in card {card}")


def test_01_empty_project_shows_how_to_connect(server, browser):
    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_elements(By.ID, "signin"))
    sign_in(browser, server)
    wait(browser, lambda d: d.find_elements(By.ID, "connect"))
    assert not browser.find_elements(By.ID, "traces")  # no empty table
    assert browser.find_element(By.ID, "connect-host").text == server.url
    assert browser.find_element(By.ID, "connect-key").text == PUBLIC_KEY
    env = browser.find_element(By.ID, "connect-env").text
    assert f"LANGFUSE_HOST={server.url}" in env and f"LANGFUSE_PUBLIC_KEY={PUBLIC_KEY}" in env
    assert f"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={server.url}/api/public/otel/v1/traces" in \
        browser.find_element(By.ID, "connect-otlp").text
    snippet = browser.find_element(By.ID, "connect-python").text
    assert f'host="{server.url}"' in snippet and f'public_key="{PUBLIC_KEY}"' in snippet
    compile(snippet, "snippet.py", "exec")  # the copied snippet is valid Python
    browser.find_element(By.CSS_SELECTOR, "button[data-copy=connect-python]").click()
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "button[data-copy=connect-python]").text != "Copy")
    shot(browser, "savings-01-connect")
    for page in ("#/savings", "#/dashboards", "#/tenants"):
        go(browser, page, "#connect")


def test_02_findings_and_what_if_match_the_hand_calculation(server):
    start, end = seed(server)
    status, body = server.request("GET", f"/api/tally/v1/insights?from={iso(start)}&to={iso(end)}")
    assert status == 200, body
    got = [(f["type"], f["subject"].get("feature"), f["subject"].get("model") if f["type"] not in ("context_bloat", "agent_loop") else None,
            f["wasteNanos"], f["estimatedMonthlyNanos"]) for f in body["data"]]
    assert got == savings_seed.EXPECTED
    rag = body["data"][3]
    assert rag["subject"] == {"feature": "rag", "promptName": "rag-answer", "promptVersion": 2}
    assert sorted(rag["traces"]) == ["rag-11", "rag-3", "rag-30"]
    loop = body["data"][2]
    assert loop["traces"] == ["agent-loop-1", "agent-loop-2"] and loop["evidence"]["featureCostNanos"] == 234_000_000
    # What-if: classify as gpt-4o-mini. gpt-4o's 16,000 input and 400 output tokens cost 2,400,000 + 240,000.
    status, w = server.request(
        "GET", f"/api/tally/v1/what-if?as=gpt-4o-mini&feature=classify&groupBy=model&from={iso(start)}&to={iso(end)}")
    assert status == 200, w
    assert [(r["model"], r["actualCostNanos"], r["whatIfCostNanos"]) for r in w["data"]] == [
        ("gpt-4o", 44_000_000, 2_640_000), ("gpt-4o-mini", 1_320_000, 1_320_000)]
    assert w["total"]["whatIfCostNanos"] == 3_960_000 and w["total"]["differenceNanos"] == -41_360_000
    [classify] = w["quality"]
    assert [(m["model"], m["target"], m["calls"], round(m["scores"]["accuracy"], 6)) for m in classify["models"]] == [
        ("gpt-4o-mini", True, 20, 0.8), ("gpt-4o", False, 40, 0.9)]


def test_03_savings_page_cards_and_what_if_form(server, browser):
    go(browser, "#/savings?range=30d", "#findings")
    cards = browser.find_elements(By.CSS_SELECTOR, "#findings article.finding")
    # The page reads the last 30 days, so each estimate is the waste itself but for the week-over-week one.
    assert [c.get_attribute("data-type") for c in cards] == [e[0] for e in savings_seed.EXPECTED]
    amounts = [c.find_element(By.CSS_SELECTOR, ".saving .amount").text for c in cards]
    assert amounts == ["≈ $0.1071", "≈ $0.04304", "≈ $0.0315", "≈ $0.0228", "≈ $0.00063", "≈ $0.000384", "≈ $0.00006"]
    assert "feature classify · model gpt-4o" in cards[1].find_element(By.CSS_SELECTOR, ".subject").text
    for card in cards:  # each card's evidence is a chart with a bar per compared figure
        assert len(card.find_elements(By.CSS_SELECTOR, "svg rect.mark")) >= 2
    assert "7 findings" in browser.find_element(By.ID, "savings-total").text
    shot(browser, "savings-02-findings")
    # An example trace opens the trace; "View the calls" opens the list narrowed to the subject.
    click_in_card(browser, 2, "agent-loop-1")
    wait(browser, lambda d: "#/trace/agent-loop-1" in d.current_url)
    go(browser, "#/savings", "#findings")
    click_in_card(browser, 4, "View the calls")
    wait(browser, lambda d: "feature=support-chat" in d.current_url and "level=ERROR" in d.current_url)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#traces tbody tr")) == 6)
    # What-if: classify as gpt-4o-mini, from the form.
    go(browser, "#/savings", "#what-if-form")
    Select(browser.find_element(By.ID, "wi-feature")).select_by_visible_text("classify")
    browser.find_element(By.ID, "wi-as").send_keys("gpt-4o-mini")
    browser.find_element(By.CSS_SELECTOR, "#what-if-form button[type=submit]").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#what-if tbody tr"))
    assert "as=gpt-4o-mini" in browser.current_url and "feature=classify" in browser.current_url
    first = browser.execute_script(
        "return [...document.querySelectorAll('#what-if tbody tr')[0].children].map(c => c.innerText)")
    assert first == ["gpt-4o", "40", "16,000", "400", "$0.044", "$0.00264", "$-0.04136", "-94.0%"]
    total = browser.execute_script("return [...document.querySelector('#what-if tfoot tr').children].map(c => c.innerText)")
    assert total[0] == "Total" and total[4:6] == ["$0.04532", "$0.00396"]
    quality = browser.execute_script(
        "return [...document.querySelectorAll('#what-if-quality tbody tr')].map(r => r.children[1].innerText)")
    assert quality == ["gpt-4o-mini (what-if)", "gpt-4o"]
    shot(browser, "savings-03-what-if")
    # A model nobody prices is refused with the server's reason, not an empty table.
    go(browser, "#/savings?as=no-such-model", "#what-if-error")
    assert "no model prices" in browser.find_element(By.ID, "what-if-error").text
