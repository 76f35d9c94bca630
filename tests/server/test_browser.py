"""The web page in Debian's Chromium (Playwright): login prompt, text search, drag-and-drop search,
details with "more like this", and a phone-width layout. Screenshots go to test-artifacts/server/."""
from __future__ import annotations

import base64

import pytest

from tests.server.conftest import ARTIFACTS, KEYS, auth, near_duplicate, settings_for
from xmodal.server import create_app
from xmodal.server.live import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
MODEL = "label-bridge"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def site(tmp_path_factory, pictures):
    """A live server on loopback with API keys, holding the test pictures in app-a's library."""
    tmp = tmp_path_factory.mktemp("browser-site")
    app = create_app(settings_for(tmp, keys=KEYS, model=MODEL))
    with serve_in_thread(app) as url:
        import httpx

        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in pictures.values()]
        r = httpx.post(f"{url}/v1/media/upload", files=files, headers=auth("write-a"), timeout=300)
        assert r.status_code == 201, r.text
        names = {subject: r.json()["files"][i]["name"] for i, subject in enumerate(pictures)}
        yield url, names


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": 860}, bypass_csp=True)  # lets wait_for_function evaluate
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser):
    p = browser.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    p.evaluate("sessionStorage.clear()")
    p.close()
    assert not errors, errors


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def login(page, url: str, key: str = "write-a") -> None:
    page.goto(url)
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#login-key", key)
    page.click("#login-btn")
    page.wait_for_selector("#login", state="hidden")


def search(page, text: str) -> None:
    page.fill("#q", text)
    page.click("#search-btn")
    page.wait_for_selector(".result-card")


def drop_file(page, path, mime: str) -> None:
    """Drag a real file from the desktop onto the drop zone (a DataTransfer built in the page)."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate("""([b64, name, mime]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: mime}));
        const zone = document.querySelector('#drop-zone');
        zone.dispatchEvent(new DragEvent('dragenter', {bubbles: true, dataTransfer: dt}));
        zone.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
    }""", [data, path.name, mime])


def first_result(page) -> str:
    return page.get_attribute(".result-card >> nth=0", "data-name")


def test_page_without_a_key_shows_the_login_prompt(site, page):
    url, _ = site
    page.goto(url)
    page.wait_for_selector("#login:not([hidden])")
    assert page.is_visible("#login-key") and "API key" in page.inner_text("#login")
    shot(page, "login.png")
    page.fill("#login-key", "wrong-key")
    page.click("#login-btn")
    page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
    assert page.is_visible("#login") and "not accepted" in page.inner_text("#login-error")
    page.fill("#login-key", "read-a")
    page.click("#login-btn")
    page.wait_for_selector("#login", state="hidden")
    assert page.is_hidden("#upload-label")  # a read key gets no upload button
    assert page.is_visible("#drop-zone")
    page.wait_for_function("document.querySelector('#status').textContent.includes('to search')")
    assert "5 image" in page.inner_text("#status")
    shot(page, "start.png")


def test_typed_query_shows_the_expected_image_first(site, page):
    url, names = site
    login(page, url)
    search(page, "a guitar")
    assert first_result(page) == names["guitar"]
    card = page.locator(".result-card >> nth=0")
    assert card.locator(".badge").inner_text().lower() == "image"
    assert card.locator(".score").inner_text().endswith("% match")
    page.wait_for_function("document.querySelector('.result-card img') && document.querySelector('.result-card img').naturalWidth > 0")
    shot(page, "search-text.png")
    # the kind filter re-runs the search; no text items exist, so nothing is shown
    page.click(".chip[data-kind=text]")
    page.wait_for_selector(".empty")
    page.click(".chip[data-kind='']")
    page.wait_for_selector(".result-card")


def test_dropped_image_finds_its_near_duplicate_first(site, page, pictures, tmp_path):
    url, names = site
    login(page, url)
    dup = near_duplicate(pictures["pizza"], tmp_path / "my-photo.jpg")
    drop_file(page, dup, "image/jpeg")
    page.wait_for_selector(".result-card")
    assert first_result(page) == names["pizza"]
    assert page.is_visible("#query-file") and page.inner_text("#query-name") == dup.name
    shot(page, "search-dropped-image.png")


def test_details_and_more_like_this(site, page):
    url, names = site
    login(page, url)
    search(page, "a penguin")
    page.click(".result-card >> nth=0")
    page.wait_for_selector("#details[open]")
    assert page.inner_text("#details-name") == names["penguin"]
    page.wait_for_selector("#details-preview img")
    shot(page, "details.png")
    page.click("#more-like-this")
    page.wait_for_function("document.querySelector('#status').textContent.includes('items like')")
    shown = page.eval_on_selector_all(".result-card", "els => els.map(e => e.dataset.name)")
    assert shown and names["penguin"] not in shown


def test_phone_width_layout(site, browser):
    url, names = site
    p = browser.new_page()
    p.set_viewport_size({"width": 390, "height": 844})
    p.set_default_timeout(TIMEOUT_MS)
    try:
        login(p, url)
        search(p, "a guitar")
        assert first_result(p) == names["guitar"]
        overflow = p.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"page is {overflow}px wider than a phone screen"
        boxes = p.eval_on_selector_all(".result-card", "els => els.slice(0, 2).map(e => e.getBoundingClientRect().top)")
        assert len(boxes) == 2 and abs(boxes[0] - boxes[1]) < 1  # two cards side by side
        shot(p, "phone.png")
    finally:
        p.close()


def test_a_question_shows_an_answer_panel(site, page):
    url, names = site
    login(page, url)
    search(page, "what does a penguin look like?")
    page.wait_for_selector("#answer:not([hidden])")
    assert "confidence" in page.inner_text("#answer-confidence")
    answer = page.inner_text("#answer-text")
    # A picture is evidence, never the answer (and never a server path): it is listed as a source.
    assert "No confident answer" in answer and "/" not in answer
    assert names["penguin"] in page.inner_text("#answer-sources")
    shot(page, "answer.png")


def test_dropped_speech_clip_searches_by_what_was_said(site, page, speech_clip):
    url, names = site
    login(page, url)
    page.fill("#q", "ignored when a file is dropped")
    drop_file(page, speech_clip, "audio/wav")
    page.wait_for_function("document.querySelector('#status').textContent.includes('heard')")
    assert "guitar" in page.inner_text("#status").lower()
    assert first_result(page) == names["guitar"]


def test_api_reference_page_renders_the_openapi_document(site, page):
    url, _ = site
    page.goto(f"{url}/api")
    page.wait_for_selector(".api-op")
    paths = page.eval_on_selector_all(".api-op code", "els => els.map(e => e.textContent)")
    assert "/v1/media/search" in paths and "/v1/collections/{name}/search" in paths
    shot(page, "api-reference.png")


def test_upload_button_indexes_files(site, page, tmp_path):
    from PIL import Image

    url, _ = site
    login(page, url)
    img = tmp_path / "sunset-upload.png"
    Image.new("RGB", (80, 60), (250, 120, 30)).save(img)
    page.set_input_files("#upload-input", str(img))
    page.wait_for_function("document.querySelector('#status').textContent.includes('Indexed 1 file')")
