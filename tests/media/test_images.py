"""load_image gives upright RGB pixels for every image a folder may hold, and typed errors otherwise."""
from pathlib import Path

import pytest
from PIL import Image

from tests.media.helpers import write_jpeg
from xmodal.errors import MediaError
from xmodal.media import load_image


def _left_red_right_blue(w=200, h=100) -> Image.Image:
    img = Image.new("RGB", (w, h), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, w // 2, h))
    return img


def test_exif_orientation_is_applied(tmp_path: Path):
    # Orientation 6: the camera was rotated; viewers turn the picture 90 degrees clockwise.
    path = write_jpeg(_left_red_right_blue(), tmp_path / "phone.jpg", exif_orientation=6)
    img = load_image(path)
    assert img.size == (100, 200)
    top, bottom = img.getpixel((50, 20)), img.getpixel((50, 180))
    assert top[0] > 200 and top[2] < 60      # the red half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_animated_gif_gives_first_frame_in_rgb(tmp_path: Path):
    frames = [Image.new("P", (40, 40), i) for i in range(3)]
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (768 - 9)
    for f in frames:
        f.putpalette(palette)
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = load_image(path)
    assert img.mode == "RGB" and img.getpixel((10, 10)) == (255, 0, 0)


def test_svg_is_rasterised_at_a_usable_size(tmp_path: Path):
    path = tmp_path / "icon.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="8">'
                    '<rect width="8" height="8" fill="#00ff00"/><rect x="8" width="8" height="8" fill="#0000ff"/></svg>')
    img = load_image(path)
    assert img.mode == "RGB" and max(img.size) >= 256 and img.size[0] == 2 * img.size[1]
    assert img.getpixel((img.width // 4, img.height // 2)) == (0, 255, 0)
    assert img.getpixel((3 * img.width // 4, img.height // 2)) == (0, 0, 255)


def test_transparency_is_flattened_on_white(tmp_path: Path):
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 10, 20))
    path = tmp_path / "logo.png"
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.getpixel((15, 10)) == (255, 255, 255) and out.getpixel((5, 10)) == (255, 0, 0)


def test_huge_jpeg_is_decoded_downscaled_under_the_pixel_limit(tmp_path: Path):
    path = write_jpeg(_left_red_right_blue(2000, 1600), tmp_path / "big.jpg")
    img = load_image(path, max_pixels=1_000_000)
    assert img.width * img.height <= 1_000_000 and img.width / img.height == pytest.approx(1.25, rel=0.01)


def test_huge_png_is_refused_as_a_decompression_bomb(tmp_path: Path):
    path = tmp_path / "bomb.png"
    Image.new("1", (2000, 1600)).save(path)
    size = path.stat().st_size
    with pytest.raises(MediaError, match=r"bomb\.png.*exceeds the limit"):
        load_image(path, max_pixels=1_000_000)
    assert path.stat().st_size == size


def test_min_side_draft_keeps_enough_pixels(tmp_path: Path):
    path = write_jpeg(_left_red_right_blue(2400, 1800), tmp_path / "photo.jpg")
    img = load_image(path, min_side=256)
    assert 256 <= min(img.size) < 1800


@pytest.mark.parametrize("name,content,problem", [
    ("empty.jpg", b"", "empty file"),
    ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "image"),
    ("notes.jpg", b"just some text", "not a decodable image"),
])
def test_broken_files_raise_media_error_naming_the_file(tmp_path: Path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError, match=problem) as info:
        load_image(path)
    assert name in str(info.value)


def test_truncated_jpeg_raises_media_error(tmp_path: Path):
    full = write_jpeg(_left_red_right_blue(400, 300), tmp_path / "full.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(MediaError, match="cut.jpg.*truncated"):
        load_image(cut)


def test_missing_file(tmp_path: Path):
    with pytest.raises(MediaError, match="not found"):
        load_image(tmp_path / "gone.jpg")


def test_heic_phone_photo_is_decoded_even_when_named_jpg(tmp_path: Path):
    import pillow_heif

    from xmodal.media import detect_kind

    path = tmp_path / "IMG_0001.jpg"
    pillow_heif.from_pillow(_left_red_right_blue(64, 48)).save(path, quality=95)  # Pillow itself untouched
    assert path.read_bytes()[4:12] == b"ftypheic"
    assert detect_kind(path) == "image"
    img = load_image(path)
    assert img.size == (64, 48) and img.getpixel((8, 24))[0] > 200 and img.getpixel((56, 24))[2] > 200
