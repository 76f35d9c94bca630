"""The web page in Debian's Chromium (Playwright): login prompt, text search, drag-and-drop search,
details with "more like this", a phone-width layout, and a library indexed by the CLI and served
without --root (icons, thumbnail fallback, OCR captions, what the library holds, the model's
loading state). Screenshots go to test-artifacts/server/."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

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


# --- a library indexed with the CLI, served without --root -------------------------------------
SIGN_TEXT = "FRESH BREAD"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def draw_sign(path) -> None:
    """A picture whose only content is printed words, which OCR reads with high confidence."""
    im = Image.new("RGB", (640, 240), "white")
    ImageDraw.Draw(im).text((30, 80), SIGN_TEXT, font=ImageFont.truetype(FONT, 64), fill="black")
    im.save(path)


@pytest.fixture(scope="module")
def plain_site(tmp_path_factory, pictures, speech_clip):
    """`xmodal index FOLDER` then a server on that library with neither keys nor --root, as a person
    tries it first: the originals are not served (403), thumbnails are."""
    tmp = tmp_path_factory.mktemp("plain-site")
    folder = tmp / "media"
    folder.mkdir()
    shutil.copy(pictures["penguin"], folder / "bird.png")
    shutil.copy(speech_clip, folder / "talk.wav")
    draw_sign(folder / "sign.png")
    settings = settings_for(tmp, model=MODEL)
    done = subprocess.run([sys.executable, "-m", "xmodal.cli", "index", str(folder), "--db", settings.db,
                           "--model", MODEL], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not settings.roots and not settings.keys
    with serve_in_thread(create_app(settings)) as url:
        yield url


def card(page, name: str):
    return page.locator(f".result-card[data-name='{name}']")


def test_empty_page_shows_the_library_and_the_first_search_says_the_model_is_loading(plain_site, page):
    url = plain_site
    page.goto(url)
    page.wait_for_selector("#library-summary:not([hidden])")
    counts = dict(page.eval_on_selector_all("#library-summary .count",
                                            "els => els.map(e => [e.dataset.kind, e.querySelector('strong').textContent])"))
    assert counts == {"image": "2", "audio": "1"}
    model = page.inner_text("#library-summary .model")
    assert MODEL in model and "loads on the first search" in model
    assert "3 items to search (2 images, 1 audio)" in page.inner_text("#status")
    assert page.locator("#library-summary .glyph svg").count() == 2
    shot(page, "library-summary.png")

    held = []  # the first search is held at the network until its loading state has been checked

    def hold(route) -> None:
        held.append(route)

    page.route("**/v1/media/search?*", hold)
    with page.expect_request("**/v1/media/search?*"):
        page.fill("#q", "a penguin")
        page.click("#search-btn")
    page.wait_for_function("document.querySelector('#status').textContent.includes('Loading the model')")
    assert MODEL in page.inner_text("#status")
    assert "busy" in page.get_attribute("#status", "class")
    shot(page, "loading-model.png")
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector(".result-card")
    assert "busy" not in page.get_attribute("#status", "class")
    page.unroute("**/v1/media/search?*")
    # once the model answered, the page no longer announces a load
    page.reload()
    page.wait_for_selector("#library-summary:not([hidden])")
    assert "loads on the first search" not in page.inner_text("#library-summary .model")
    page.fill("#q", "a bird")
    page.click("#search-btn")
    page.wait_for_selector("#status:not(.busy) >> text=result")
    assert "Loading the model" not in page.inner_text("#status")


def test_details_fall_back_to_the_thumbnail_and_say_how_to_serve_originals(plain_site, page):
    url = plain_site
    page.goto(url)
    page.click(".chip[data-kind=image]")
    search(page, "a penguin")
    bird = card(page, "bird.png")
    ref = bird.get_attribute("data-ref")
    assert httpx.get(f"{url}/v1/media/file", params={"ref": ref}).status_code == 403  # the case under test
    bird.click()
    page.wait_for_selector("#details[open]")
    page.wait_for_function("document.querySelector('#details-preview img.thumb-fallback')?.naturalWidth > 0")
    note = page.locator("#details-note")
    note.wait_for(state="visible")
    assert "xmodal serve --root FOLDER" in note.inner_text()
    shot(page, "details-thumbnail-fallback.png")


def test_audio_cards_and_details_use_svg_icons(plain_site, page):
    url = plain_site
    page.goto(url)
    page.click(".chip[data-kind=audio]")
    search(page, "a musical instrument")
    audio = card(page, "talk.wav")
    glyph = audio.locator(".thumb .glyph")
    assert glyph.get_attribute("data-icon") == "audio"
    assert glyph.inner_text() == ""  # no emoji text, which needs a font the machine may lack
    box = glyph.locator("svg").bounding_box()
    assert box and box["width"] >= 24 and box["height"] >= 24
    shot(page, "audio-card.png")
    audio.click()
    page.wait_for_selector("#details[open]")
    page.locator("#details-note").wait_for(state="visible")  # no original, no thumbnail: the icon stays
    assert page.get_attribute("#details-preview .glyph", "data-icon") == "audio"
    assert page.locator("#details-preview .glyph svg").bounding_box()["width"] >= 48
    assert page.locator("#details .close-row svg").count() == 1
    shot(page, "audio-details.png")
    # no text on the page is drawn with an emoji-range code point
    text = page.evaluate("document.body.innerText")
    assert not [c for c in text if ord(c) >= 0x1F000 or 0x2600 <= ord(c) <= 0x27BF], text


def test_ocr_captions_are_shown_only_when_readable(plain_site, page):
    url = plain_site
    page.goto(url)
    search(page, "fresh bread")
    sign = card(page, "sign.png")
    assert SIGN_TEXT in sign.locator(".evidence").inner_text()
    shot(page, "ocr-caption.png")
    verdicts = page.evaluate("""texts => texts.map(t => readableOcr(t))""",
                             ["Bt", "| a |", "Bt Rx", "— ' .", SIGN_TEXT, "Open 9-5", "STOP"])
    assert verdicts == [False, False, False, False, True, True, True]

    # Libraries indexed before the confidence floor hold OCR junk: the page must not print it.
    junk = {"bird.png": {"match": "ocr", "text": "Bt"}, "sign.png": {"match": "item", "text": "| a |"}}

    def with_junk(route):
        body = route.fetch().json()
        for r in body["results"]:
            r["evidence"] = junk.get(r["name"], r["evidence"])
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/v1/media/search?*", with_junk)
    page.fill("#q", "fresh bread sign")
    page.click("#search-btn")
    # the earlier cards are still on the page: wait for the ones rendered for this query
    page.wait_for_function("document.querySelector('#status').textContent.includes('for “fresh bread sign”')")
    for name in junk:
        assert card(page, name).locator(".evidence").count() == 0, name
    card(page, "bird.png").click()
    page.wait_for_selector("#details[open]")
    assert page.inner_text("#details-evidence") == ""
    shot(page, "ocr-junk-hidden.png")
